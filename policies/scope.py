"""A caller's data scope: which relations, columns and rows one role+purpose+site may read.

The scope is what the query engine and vector search enforce *where data is read*: the engine
builds a DuckDB catalog holding only this scope's rows and columns (``lakehouse.scoped``), and
search gets the same row rules as payload filters (``lakehouse.access``). Checking a query's
parse tree against a deny-list cannot be complete (``COLUMNS('regex')``, ``LATERAL``,
row-as-struct, catalog functions...), while data that is not in the catalog cannot leak through
any query form. This module is pure data (layering: ``policies`` imports only ``core``).

Fail closed: an empty or unknown role, purpose or site is refused with
:class:`ScopeDeniedError`, never defaulted.

Usage::

    scope = DataScope.from_policy(engine, "researcher", "research", "site-a")
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from policies.engine import Caller, PolicyDecision, PolicyDeniedError, PolicyEngine

DIRECT_IDENTIFIERS: frozenset[str] = frozenset({"mrn", "given_name", "family_name", "birth_date", "address", "phone", "email", "ssn"})


ALL_SITES = "*"  # a caller not bound to one site: every site the role's policy allows


class ScopeDeniedError(PolicyDeniedError):
    """No data scope for this role, purpose or site (unknown, empty or not allowed)."""


class DataScope(BaseModel):
    """Everything the data layer needs to build one caller's view of the lakehouse."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: str
    purpose: str
    site: str = Field(description="The caller's site; rows of other sites are not in the scope.")
    pack: str = Field(description="Policy pack name@version the scope was derived from.")
    tables: tuple[str, ...] | None = Field(description="Raw tables the role may read; None: every raw table.")
    denied_columns: dict[str, tuple[str, ...]] = Field(default_factory=dict, description="Table ('*': every table) -> columns left out of the catalog.")
    consents: tuple[str, ...] | None = Field(description="Consent tags whose rows are kept; None: any consent.")
    max_sensitivity: int = Field(ge=0, le=5)
    date_precision: Literal["day", "month", "year"]
    age_detail: Literal["exact", "band", "none"]
    history: bool
    free_text: Literal["keep", "scrub"]
    decision: PolicyDecision | None = Field(None, description="The policy decision the scope rests on (for the audit entry).")

    every_site: tuple[str, ...] = Field((), description="With site '*': every site the role may read.")

    @property
    def sites(self) -> tuple[str, ...]:
        """Sites whose rows are in the scope: the caller's, or (site '*') every site the role may read."""
        return self.every_site if self.site == ALL_SITES else (self.site,)

    def hidden_columns(self, table: str) -> set[str]:
        """Columns of ``table`` not in this scope."""
        return set(self.denied_columns.get("*", ())) | set(self.denied_columns.get(table, ()))

    def key(self) -> str:
        """Stable id of the scope's rules (cache key for a scoped engine, audit field)."""
        return "scope:" + hashlib.sha256(self.model_dump_json(exclude={"decision"}).encode()).hexdigest()[:16]

    def search_fields(self) -> dict[str, object]:
        """The row rules as ``SearchFilter`` fields (sites, consents, max_sensitivity)."""
        return {"sites": list(self.sites), "consents": None if self.consents is None else list(self.consents), "max_sensitivity": self.max_sensitivity}

    @classmethod
    def from_policy(cls, engine: PolicyEngine, role: str, purpose: str, site: str, user: str = "unknown") -> DataScope:
        """The scope the active pack grants ``role`` acting for ``purpose`` at ``site``.

        Raises:
            ScopeDeniedError: empty/unknown role, purpose not declared or not allowed for the
                role, site empty, not a site of the pack, or not one of the role's sites.
        """
        pack = engine.pack
        for name, value in (("role", role), ("purpose", purpose), ("site", site)):
            if not isinstance(value, str) or not value.strip():
                raise ScopeDeniedError(f"no data scope without a {name}", hint=f"pass an explicit {name}; nothing is defaulted")
        policy = pack.roles.get(role)
        if policy is None:
            raise ScopeDeniedError(f"role {role!r} is not in policy pack {pack.name!r}", hint=f"roles: {', '.join(sorted(pack.roles))}")
        if purpose not in policy.purposes:
            raise ScopeDeniedError(f"purpose {purpose!r} is not allowed for role {role!r}", hint=f"allowed: {', '.join(policy.purposes) or 'none'}")
        every_site: tuple[str, ...] = ()
        if site == ALL_SITES:  # a caller acting for no one site: every site the role may read
            every_site = tuple(policy.sites if policy.sites is not None else pack.sites)
            if not every_site:
                raise ScopeDeniedError(f"role {role!r} may read no site", hint="list the deployment's sites in the pack (`sites`)")
        elif site not in pack.sites:
            raise ScopeDeniedError(f"site {site!r} is not a site of policy pack {pack.name!r}", hint=f"sites: {', '.join(pack.sites) or 'none configured'}")
        if site != ALL_SITES and policy.sites is not None and site not in policy.sites:
            raise ScopeDeniedError(f"role {role!r} may not read site {site!r}", hint=f"allowed sites: {', '.join(policy.sites)}")
        tables = None if "*" in policy.allowed_tables else tuple(sorted(policy.allowed_tables))
        decision = engine.check_table_access(Caller(user=user, role=role, purpose=purpose), list(tables or ()), [])
        if decision.effect == "deny":
            raise ScopeDeniedError(decision.reason, hint="ask for a role whose policy grants these tables")
        return cls(
            role=role, purpose=purpose, site=site, pack=f"{pack.name}@{pack.version}", tables=tables,
            denied_columns={t: tuple(sorted(cols)) for t, cols in policy.denied_columns.items()},
            consents=None if policy.consents is None else tuple(sorted(policy.consents)),
            max_sensitivity=policy.max_sensitivity, date_precision=policy.date_precision, age_detail=policy.age_detail,
            history=policy.history, free_text=policy.free_text, decision=decision, every_site=every_site,
        )
