"""What every service shares: the caller check, the workflow span, and the typed request base.

A service is one use case (run a task, a chat turn, ingest, search, ...) with the signature
``(resources, caller, request) -> result``. Entry points (the CLI, the HTTP API, the MCP
server) build the caller from their own authentication and call a service; they never reach
the lakehouse, the models or the tools themselves. Inside, a service authorises through the
one gate (``tools.governed.authorize``), which audits once, and runs under one
``invoke_workflow {name}`` span carrying the caller.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

from opentelemetry.trace import Span, Status, StatusCode
from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import SageError
from core.telemetry import Attr, get_tracer
from policies.engine import Caller, PolicyDecision
from tools.contract import Context
from tools.governed import authorize
from tools.resources import Resources

__all__ = ["Caller", "CallerError", "RequestError", "Resources", "ServiceRequest", "context_for", "governed", "require_caller", "workflow"]


class CallerError(SageError):
    """A request without a user, role or purpose: identity is never defaulted into privilege."""


class RequestError(SageError):
    """A request that does not match its model: the message names every bad field."""


class ServiceRequest(BaseModel):
    """Base of service requests: strict types, unknown fields refused (not silently dropped)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @classmethod
    def parse(cls, data: dict[str, Any], *, strict: bool | None = None) -> Self:
        """Validate ``data`` (JSON-like: strings for paths) or raise a RequestError naming the bad fields."""
        try:
            return cls.model_validate(data, strict=strict)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(request)'}: {e['msg']}" for e in exc.errors(include_url=False))
            fields = ", ".join(f"{n}{'' if f.is_required() else '?'}" for n, f in cls.model_fields.items())
            raise RequestError(f"invalid {cls.__name__}: {problems}", hint=f"fields: {fields}") from None


def require_caller(caller: Caller, resources: Resources | None = None, action: str = "request") -> Caller:
    """The caller, if it names a user, a role and a purpose; else a CallerError (fail closed).

    With ``resources``, the refusal is audited (rule ``identity``) before it is raised.
    """
    missing = [name for name in ("user", "role", "purpose") if not str(getattr(caller, name) or "").strip()]
    if missing:
        reason = f"no {' or '.join(missing)} given"
        if resources is not None:
            from policies.audit import AuditEvent

            resources.audit.append(AuditEvent(actor=caller.user or "(none)", action=action, resource=action, decision="deny",
                                              details={"role": caller.role, "purpose": caller.purpose, "rule": "identity", "reason": reason}))
        raise CallerError(f"the request has {reason}", hint="pass --user NAME --role ROLE --purpose PURPOSE (or set SAGE_DEFAULT_USER / SAGE_DEFAULT_ROLE)")
    return caller


def context_for(resources: Resources, caller: Caller, **options: object) -> Context:
    """The run context of a caller: who runs the graph, on which installation, with which model options.

    It carries the caller's outside MCP tools (``services.mcp_tools.OutsideToolbox``), listed
    only if a step asks: the policy pack grants them by name, the governed invoker gates each call.
    """
    from services.mcp_tools import OutsideToolbox  # services.mcp_tools imports this module

    kept = {k: v for k, v in options.items() if v is not None}
    return Context(user=caller.user, role=caller.role, purpose=str(caller.purpose), settings=resources.settings, resources=resources,
                   outside=OutsideToolbox(resources, caller), **kept)  # type: ignore[arg-type]


@contextmanager
def workflow(resources: Resources, caller: Caller, name: str, *, service: str | None = None) -> Iterator[Span]:
    """The ``invoke_workflow {name}`` span of one service call, with the caller on it.

    Graph runs are named after their graph (``clinical``, ``chat``) and carry the service in
    ``sage.workflow``; an expected error marks the span with its type only (the message may
    quote the request).
    """
    resources.tracing()
    with get_tracer().start_as_current_span(f"invoke_workflow {name}", record_exception=False, set_status_on_exception=False) as span:
        span.set_attribute(Attr.OPERATION, "invoke_workflow")
        span.set_attribute(Attr.WORKFLOW, service or name)
        span.set_attribute(Attr.USER, caller.user)
        span.set_attribute(Attr.ROLE, caller.role)
        span.set_attribute(Attr.PURPOSE, str(caller.purpose))
        try:
            yield span
        except SageError as exc:
            span.set_attribute(Attr.ERROR_TYPE, type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


@contextmanager
def governed(
    resources: Resources,
    caller: Caller,
    name: str,
    actions: str | Sequence[str],
    *,
    resource: str,
    service: str | None = None,
    run_id: str | None = None,
    audit_action: str | None = None,
    details: dict[str, Any] | None = None,
    hint: str | None = None,
    audit: bool = True,
) -> Iterator[tuple[Span, PolicyDecision]]:
    """One service call: the caller checked, its ``invoke_workflow`` span, and the one gate inside it.

    The decision (allowed or denied) is audited once by ``tools.governed.authorize`` and set on
    the span; a denial raises ``ActionDeniedError`` out of the span, which records its type.
    """
    require_caller(caller, resources, audit_action or (actions if isinstance(actions, str) else actions[0]))
    with workflow(resources, caller, name, service=service) as span:
        decision = authorize(resources, caller, actions, resource=resource, run_id=run_id, audit_action=audit_action, details=details, hint=hint, audit=audit)
        span.set_attribute(Attr.POLICY_EFFECT, decision.effect)
        yield span, decision
