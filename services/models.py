"""The model zoo as a service: which models exist, whether they are installed and loaded."""

from __future__ import annotations

from typing import Any

from models.zoo import ModelSpecStatus
from services.base import Caller, governed
from tools.resources import Resources


def list_models(resources: Resources, caller: Caller) -> list[ModelSpecStatus]:
    """Every zoo model with its roles, backend and install status (no weights are loaded)."""
    with governed(resources, caller, "list_models", "models_read", resource="zoo", audit_action="models:list"):
        return resources.zoo.list()


def model_server(resources: Resources, model: str | None = None, adapter: str | None = None) -> tuple[str, Any]:
    """An OpenAI-compatible ASGI app over one zoo model, with the model loaded first.

    A broken model or an unknown adapter fails here, before the server listens. Returns the
    model's name and the app.
    """
    from models.adapt.registry import AdapterRegistry
    from models.serve import create_model_server

    resources.tracing()
    name = model or resources.settings.chat_model
    resources.zoo.chat_model(name)
    if adapter:
        AdapterRegistry(resources.settings).get(adapter)
    return name, create_model_server(resources.zoo, name, adapter)
