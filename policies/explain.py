"""Why the pack allows or denies something: the deciding rule and every rule evaluated on the way.

For ``sagehealth policy explain --role R --purpose P --tool T``: a governance team checks a
pack before activating it ("may a researcher run query_records for research, and which rule
says so?"), and a denied user learns which rule to ask about. The engine itself produces the
steps (``trace``), so the explanation cannot drift from what is enforced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from policies.engine import Caller, PolicyDeniedError, PolicyEngine, RuleStep
from policies.packs import PolicyPack


class Explanation(BaseModel):
    """The decision for one question, the rule that decided it, and the rules evaluated."""

    pack: str = Field(description="'name@version' of the pack consulted.")
    question: dict[str, Any] = Field(description="What was asked: role, purpose, tool/tables/columns/action.")
    effect: str = Field(description="allow, deny or redact (search: allow with the filter in details).")
    rule: str = Field(description="The rule that decided, e.g. 'purposes.research.allowed_tools'.")
    reason: str
    steps: list[RuleStep] = Field(description="Rules in the order evaluated, each pass/fail/info with a detail.")
    details: dict[str, Any] = Field(default_factory=dict)


def explain(
    pack: PolicyPack,
    role: str | None,
    purpose: str | None,
    *,
    tool: str | None = None,
    tables: Sequence[str] | None = None,
    columns: Sequence[str] = ("*",),
    action: str | None = None,
    user: str = "explain",
    site: str | None = None,
) -> Explanation:
    """Explain the decision for a role and purpose on a tool, a table read, or an action.

    Args:
        pack: The pack to consult (``PolicyStore.pack`` or ``load_pack(...)``).
        role: As a caller would declare it; an empty or missing role is explained as denied.
        purpose: Likewise; never defaulted.
        tool: A tool or pseudo-tool action name (``query_records``, ``review``, ``ingest``).
        tables: A table read instead of a tool.
        columns: Columns of that read (default ``*``).
        action: ``"search"`` (vector-search access filter) or ``"relabel"``; otherwise checked as a tool name.
        user: Caller name (identity is checked like any caller's).
        site: Caller site, if any.
    """
    caller = Caller(user=user, role=role or "", purpose=purpose, site=site)
    engine = PolicyEngine(pack)
    steps: list[RuleStep] = []
    question: dict[str, Any] = {"role": role, "purpose": purpose}
    details: dict[str, Any] = {}
    if tables:
        question |= {"tables": list(tables), "columns": list(columns)}
        decision = engine.check_table_access(caller, tables, columns, trace=steps)
    elif action == "search":
        question["action"] = "search"
        try:
            details = {"filter": engine.search_filter_fields(caller, trace=steps)}
            effect, rule, reason = "allow", f"roles.{caller.role}", "search allowed with the access filter in details"
        except PolicyDeniedError as exc:
            effect, rule, reason = "deny", steps[-1].rule if steps else "identity", exc.message
        return Explanation(pack=f"{pack.name}@{pack.version}", question=question, effect=effect, rule=rule, reason=reason, steps=steps, details=details)
    elif action == "relabel":
        question["action"] = "relabel"
        decision = engine.check_relabel(caller, "case", trace=steps)
    else:
        name = tool or action
        if not name:
            raise ValueError("explain needs a tool, tables, or an action")
        question["tool"] = name
        decision = engine.check_tool(caller, name, trace=steps)
    return Explanation(pack=f"{pack.name}@{pack.version}", question=question, effect=decision.effect, rule=decision.rule, reason=decision.reason, steps=steps, details=decision.details)
