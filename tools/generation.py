"""``generate_text``: one chat completion from the model zoo.

The model and adapter come from the run's Context (``deps.model`` / ``deps.adapter``), not from
the arguments: a prompt cannot switch a run to another model. The ``chat {model}`` span and
token counts are recorded by the zoo's model wrapper.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.base import Provenance, ToolDefinition, ToolDeps, ToolExecutionError, ToolResult, register_tool


class ChatTurn(BaseModel):
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=20000)


class GenerateArgs(BaseModel):
    """Arguments of ``generate_text``."""

    messages: list[ChatTurn] = Field(min_length=1, description="Chat messages, system first; the last one is usually the user's.")
    max_new_tokens: int = Field(96, ge=1, le=1024, description="Most tokens to generate (1-1024; an impression needs about 40-100).")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature; 0 is greedy and reproducible.")
    seed: int = Field(0, ge=0, description="Sampling seed (ignored when greedy).")
    adapter: str | None = Field(None, max_length=128, description="LoRA adapter asked for by the request; default: the run's adapter.")


class GeneratedText(ToolResult):
    """What the model wrote."""

    text: str
    model: str
    adapter: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


def _params(args: GenerateArgs, budget: int | None) -> Any:
    from models.lm.types import GenerationParams

    return GenerationParams(max_new_tokens=budget or args.max_new_tokens, temperature=args.temperature, seed=args.seed if args.temperature > 0 else None)


def generate_text(deps: ToolDeps, args: GenerateArgs) -> GeneratedText:
    """Generate with the run's model and adapter (and the caller's token budget, when set)."""
    name = deps.model or deps.settings.chat_model
    model = deps.resources.zoo.chat_model(name)
    try:
        result = model.generate([m.model_dump() for m in args.messages], _params(args, deps.max_new_tokens), adapter=args.adapter or deps.adapter)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ToolExecutionError(f"model {name!r} failed to generate: {exc}", hint="check `sagehealth models list`") from exc
    return GeneratedText(
        text=result.text,
        model=result.model,
        adapter=result.adapter,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        provenance=Provenance(source=f"zoo:{name}" + (f"+{deps.adapter}" if deps.adapter else "")),
    )


register_tool(
    ToolDefinition(
        name="generate_text",
        description="Generate text (e.g. a report impression) with the run's chat model.",
        args_model=GenerateArgs,
        result_model=GeneratedText,
        run=generate_text,
    )
)
