"""Typed option objects the entry points build before calling a service (bad values: RequestError)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from models.adapt.config import LoraTrainConfig
from services.base import RequestError

__all__ = ["LoraTrainConfig", "lora_config"]


def lora_config(**options: Any) -> LoraTrainConfig:
    """LoRA training hyper-parameters, validated; a bad one is a RequestError naming it."""
    try:
        return LoraTrainConfig(**options)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RequestError(f"invalid training option: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}", hint="see `sagehealth adapt train --help`") from None
