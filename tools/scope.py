"""The caller's data scope for the data tools: the catalog and the payload filter they read through.

SQL and search tools never read the raw tier or the semantic tier as such: the SQL tools query
the caller's own DuckDB catalog (``QueryEngine.for_caller``: only the rows, columns and derived
values the scope allows), and search ANDs the scope's row rules into the Qdrant filter. Both
are built once per scope and kept on the installation's ``Resources`` (a write drops them with
the ``query`` snapshot).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policies.scope import ALL_SITES, DataScope

if TYPE_CHECKING:
    from lakehouse.query import QueryEngine
    from tools.base import ToolDeps


def caller_site(deps: ToolDeps) -> str:
    """The site the caller acts for; a caller bound to no site reads every site its role may (``*``).

    A pack keeps sites apart by listing a role's ``sites``, or an entry point by binding its
    callers to one site (the ``site`` of the caller).
    """
    return deps.site or ALL_SITES


def caller_scope(deps: ToolDeps) -> DataScope:
    """The scope the active pack grants this caller; ``ScopeDeniedError`` when it grants none."""
    site = caller_site(deps)
    key = f"scope:{deps.user}:{deps.role}:{deps.purpose}:{site}"
    return deps.resources.derived(key, lambda: DataScope.from_policy(deps.resources.policy, deps.role, deps.purpose, site, deps.user))


def scoped_query(deps: ToolDeps) -> QueryEngine:
    """The caller's own catalog over the current raw snapshot (built once per scope)."""
    scope = caller_scope(deps)
    key = f"query:{scope.role}:{scope.purpose}:{scope.site}"
    return deps.resources.derived(key, lambda: deps.resources.query.for_caller(scope))
