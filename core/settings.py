"""One settings object for the whole system, read from ``SAGE_*`` environment variables.

Library code takes a :class:`Settings` argument instead of reading the environment, so tests
and embedders can run several configurations side by side; only the CLI and server build one
from the environment (``Settings()``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Paths, endpoints and defaults. Every field maps to ``SAGE_<FIELD>`` (e.g. ``SAGE_HOME``)."""

    model_config = SettingsConfigDict(env_prefix="SAGE_", extra="ignore")

    home: Path = Field(Path(".sage"), description="Folder holding all state: lakehouse, Qdrant, checkpoints, adapters, traces, audit log.")
    # Semantic tier: embedded Qdrant Edge unless a server URL is given.
    qdrant_url: str | None = Field(None, description="Qdrant server URL; when set, qdrant-client is used instead of embedded Qdrant Edge.")
    qdrant_api_key: SecretStr | None = Field(None, description="API key for the Qdrant server.")
    qdrant_collection: str = Field("cases", description="Collection (or Edge shard) name for case points.")
    # Models.
    chat_model: str = Field("smollm2-135m", description="Zoo name of the default chat/report model.")
    embed_model: str = Field("minilm-l6", description="Zoo name of the text embedder.")
    image_model: str = Field("cxr-tiny", description="Zoo name of the image encoder.")
    adapter: str | None = Field(None, description="Default LoRA adapter for report drafting (name in the adapter registry).")
    openai_base_url: str | None = Field(None, description="OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server) for the 'openai' backend.")
    openai_api_key: SecretStr | None = Field(None, description="API key for the OpenAI-compatible endpoint.")
    openai_model: str | None = Field(None, description="Model name to request from the OpenAI-compatible endpoint.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Torch device for local models; auto uses a GPU when present.")
    embed_engine: Literal["auto", "onnx", "torch"] = Field("auto", description="Text embedder engine: auto = ONNX Runtime when the device resolves to CPU, torch on CUDA.")
    onnx_cache: Path | None = Field(None, description="Folder for the embedder's ONNX export; default SAGE_HOME/models/onnx. Files are named by a fingerprint of model and torch, so several homes can share one folder.")
    # Orchestration.
    checkpointer: Literal["sqlite", "postgres", "memory"] = Field("sqlite", description="LangGraph checkpointer backend.")
    postgres_dsn: SecretStr | None = Field(None, description="Postgres DSN when checkpointer=postgres.")
    # Telemetry.
    telemetry_exporter: Literal["jsonl", "console", "otlp", "none"] = Field("jsonl", description="Where spans go; jsonl writes SAGE_HOME/traces/spans.jsonl.")
    otlp_endpoint: str | None = Field(None, description="OTLP/HTTP traces endpoint when telemetry_exporter=otlp.")
    # Governance.
    policy_pack: str = Field("default", description="Active policy pack name.")
    default_user: str = Field("demo-clinician", description="Caller used by the CLI when --user is not given.")
    default_role: str = Field("clinician", description="Role used by the CLI when --role is not given.")
    audit_key_file: Path = Field(
        Path("~/.config/sagehealth/audit.key"),
        description="HMAC key of the audit chain; kept OUTSIDE SAGE_HOME so whoever can edit the log cannot re-sign it. Created 0600 on first use.",
    )
    # HTTP API (sagehealth serve).
    api_concurrency: int = Field(2, ge=1, le=64, description="Runs and chat turns (model calls) the HTTP API, and graph runs the MCP server, execute at once; more wait queued.")
    api_max_queued: int = Field(64, ge=1, le=10000, description="Queued runs beyond which the API answers 429.")
    # Data.
    seed: int = Field(7, description="Seed for synthetic data generation.")
    site: str = Field("site-a", description="Site tag stamped on ingested records.")

    @field_validator("audit_key_file")
    @classmethod
    def _expand_key_path(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def lakehouse_dir(self) -> Path:
        """Raw tier tables (Delta Lake)."""
        return self.home / "lakehouse"

    @property
    def blobs_dir(self) -> Path:
        """Content-addressed blob store (image bytes)."""
        return self.home / "blobs"

    @property
    def qdrant_path(self) -> Path:
        """Embedded Qdrant Edge shard folder."""
        return self.home / "qdrant"

    @property
    def checkpoints_path(self) -> Path:
        """SQLite checkpointer database."""
        return self.home / "checkpoints.sqlite"

    @property
    def models_dir(self) -> Path:
        """Cached model folders (e.g. the dequantized GGUF chat model)."""
        return self.home / "models"

    @property
    def onnx_dir(self) -> Path:
        """The embedder's exported ONNX graphs (``SAGE_ONNX_CACHE``, else under :attr:`models_dir`)."""
        return self.onnx_cache.expanduser() if self.onnx_cache is not None else self.models_dir / "onnx"

    @property
    def adapters_dir(self) -> Path:
        """Adapter registry: one folder per LoRA adapter with its manifest."""
        return self.home / "adapters"

    @property
    def interactions_dir(self) -> Path:
        """Site drug-interaction tables imported with ``sagehealth knowledge import-interactions``."""
        return self.home / "knowledge" / "interactions"

    @property
    def traces_path(self) -> Path:
        """JSON-lines span file written by the default exporter."""
        return self.home / "traces" / "spans.jsonl"

    @property
    def audit_path(self) -> Path:
        """Hash-chained audit log."""
        return self.home / "audit" / "audit.jsonl"

    @property
    def synthetic_dir(self) -> Path:
        """Generated FHIR bundles and their PHI ledger."""
        return self.home / "synthetic"
