"""Policy packs: who may use which tools, tables, columns and data, for which purpose, as one document.

A pack is data (JSON or YAML), validated by pydantic, so a site changes governance without
changing code. The engine (:mod:`policies.engine`) evaluates it; roles not in the pack get
nothing (deny by default). Beyond roles, a pack may declare:

- ``identifiers``: the identifier categories it protects (HIPAA Safe Harbor's list) mapped to
  lakehouse columns; a role or purpose marked ``deidentified`` never sees those columns.
- ``purposes``: per purpose of use, the tools and tables it may touch (minimum necessary,
  GDPR purpose limitation), the consent a record must carry, and its legal basis.

Unknown keys are refused (a misspelt rule must not silently do nothing). Loading with file
and line numbers in errors, and keeping the previous pack on a failed reload, live in
:mod:`policies.pack_source` and :mod:`policies.store`.

Usage::

    pack = load_pack("default")              # policies/packs/default.json
    pack = load_pack("hipaa")                # policies/packs/hipaa.json
    pack = load_pack("/etc/sage/site.yaml")  # a site's own pack
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import SageError

PACK_SUFFIXES = (".json", ".yaml", ".yml")


class PolicyPackError(SageError):
    """A policy pack cannot be found or does not validate; names the file, line and rule."""


class PackRuleError(ValueError):
    """A cross-field rule failed; ``loc`` is where in the pack (mapped to a line by the loader)."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class RolePolicy(BaseModel):
    """What one role may do. ``None`` for sites/consents means no restriction on that tag."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(default="", description="Who holds this role.")
    allowed_tools: list[str] = Field(default_factory=list, description="Tool names the role may call; '*' allows all.")
    allowed_tables: list[str] = Field(default_factory=list, description="Raw-tier tables the role may read; '*' allows all.")
    denied_columns: dict[str, list[str]] = Field(default_factory=dict, description="Table ('*' for any) -> columns the role never sees.")
    deidentified: bool = Field(default=False, description="The role never sees any column listed under the pack's identifiers.")
    sites: list[str] | None = Field(default=None, description="Site tags the role may see; None = all sites.")
    consents: list[str] | None = Field(default=None, description="Consent tags the role may see; None = any consent.")
    max_sensitivity: int = Field(default=3, ge=0, le=5, description="Highest record sensitivity level (0 public .. 5 most restricted).")
    can_relabel: bool = Field(default=False, description="May submit label corrections (feedback).")
    purposes: list[str] = Field(default_factory=list, description="Purposes of use the role may declare; a role with none may do nothing.")
    # Data-scope rules (policies.scope.DataScope): what the role's own DuckDB catalog holds.
    # Defaults are the restrictive choice, so a pack that omits them leaks nothing by accident.
    date_precision: Literal["day", "month", "year"] = Field("year", description="Dates and timestamps the role sees: exact ('day'), 'YYYY-MM' ('month') or 'YYYY' ('year').")
    age_detail: Literal["exact", "band", "none"] = Field("none", description="Derived age column: exact completed years ('age'), 5-year band ('age_band', '90+' over 89), or none.")
    history: bool = Field(False, description="May read the <table>_history views (every version, with provenance).")
    free_text: Literal["keep", "scrub"] = Field("scrub", description="Report/encounter free text as stored, or with dates, names, ages over 89 and identifiers replaced by placeholders.")


class IdentifierRule(BaseModel):
    """One identifier category (e.g. Safe Harbor (B) geographic subdivisions) and where it lives."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    reference: str | None = Field(default=None, description="Regulation clause, e.g. '45 CFR 164.514(b)(2)(i)(B)'.")
    columns: list[str] = Field(default_factory=list, description="'table.column' entries holding this identifier.")
    free_text: bool = Field(default=False, description="Also occurs in free text (reports): the PHI redactor must catch it.")


class PurposeRule(BaseModel):
    """What a purpose of use permits, whatever the role: narrows, never widens, the role's rights."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    legal_basis: str | None = Field(default=None, description="E.g. 'GDPR Art. 9(2)(h)' or 'HIPAA 164.506 treatment'.")
    allowed_tools: list[str] | None = Field(default=None, description="Tools this purpose may use; None = no narrowing, '*' allows all.")
    allowed_tables: list[str] | None = Field(default=None, description="Tables this purpose may read; None = no narrowing.")
    requires_consent: list[str] | None = Field(default=None, description="Consent tags a record must carry to be used for this purpose.")
    deidentified: bool = Field(default=False, description="Identifier columns are never shown for this purpose.")


class PolicyPack(BaseModel):
    """A named, versioned set of role policies, purpose rules, identifiers and output/review rules."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    description: str = ""
    framework: str | None = Field(default=None, description="What the pack implements, e.g. 'HIPAA Privacy Rule'.")
    roles: dict[str, RolePolicy]
    purposes: dict[str, PurposeRule] = Field(default_factory=dict, description="Purpose rules; when present, every role purpose must be declared here.")
    identifiers: dict[str, IdentifierRule] = Field(default_factory=dict, description="Identifier categories and their columns.")
    min_retrieval_similarity: float = Field(default=0.3, ge=-1.0, le=1.0, description="Below this best-hit similarity, outputs go to human review.")
    review_on_uncertain_findings: bool = Field(default=True, description="Send drafts with uncertain findings to human review.")
    phi_output: Literal["redact", "deny"] = Field(default="redact", description="What to do when an output contains PHI.")
    sites: list[str] = Field(default_factory=list, description="Sites (hospitals) of this deployment; a data scope for any other site is refused.")
    feedback: dict[str, Any] | None = Field(default=None, description="Clinician-feedback rules (policies.feedback_rules.FeedbackRules validates them).")

    @model_validator(mode="after")
    def _consistent(self) -> PolicyPack:
        for role, policy in self.roles.items():
            if not role or role != role.strip().lower() or " " in role:
                raise PackRuleError(("roles", role), f"role names are lower-case without spaces; got {role!r}")
            for i, purpose in enumerate(policy.purposes):
                if self.purposes and purpose not in self.purposes:
                    raise PackRuleError(("roles", role, "purposes", i), f"purpose {purpose!r} of role {role!r} is not declared under 'purposes' ({', '.join(sorted(self.purposes))})")
            if policy.deidentified and not self.identifiers:
                raise PackRuleError(("roles", role, "deidentified"), f"role {role!r} is deidentified but the pack lists no identifiers")
        for purpose, rule in self.purposes.items():
            if rule.deidentified and not self.identifiers:
                raise PackRuleError(("purposes", purpose, "deidentified"), f"purpose {purpose!r} is deidentified but the pack lists no identifiers")
        for name, ident in self.identifiers.items():
            for i, column in enumerate(ident.columns):
                table, _, col = column.partition(".")
                if not table or not col or "." in col:
                    raise PackRuleError(("identifiers", name, "columns", i), f"identifier column {column!r} must be 'table.column'")
        return self

    def identifier_columns(self) -> dict[str, set[str]]:
        """Table -> identifier columns from ``identifiers``: what a de-identified caller never sees."""
        out: dict[str, set[str]] = {}
        for ident in self.identifiers.values():
            for column in ident.columns:
                table, _, col = column.partition(".")
                out.setdefault(table, set()).add(col)
        return out


def packs_folder() -> Path:
    """Folder of the packs shipped with the code."""
    return Path(str(resources.files("policies") / "packs"))


def shipped_packs() -> list[str]:
    """Names of the packs shipped with the code (file stems)."""
    return sorted(p.stem for p in packs_folder().iterdir() if p.suffix in PACK_SUFFIXES)


def resolve_pack(name_or_path: str | Path) -> Path:
    """The file of a shipped pack name ("default", "hipaa") or of a ``.json``/``.yaml`` path.

    Raises:
        PolicyPackError: no such pack or file.
    """
    path = Path(name_or_path)
    if path.suffix not in PACK_SUFFIXES:
        found = [packs_folder() / f"{name_or_path}{suffix}" for suffix in PACK_SUFFIXES]
        path = next((p for p in found if p.is_file()), found[0])
    if not path.is_file():
        raise PolicyPackError(f"policy pack {str(name_or_path)!r} not found ({path})", hint=f"shipped packs: {', '.join(shipped_packs())}; or give a .json/.yaml path")
    return path


def load_pack(name_or_path: str | Path) -> PolicyPack:
    """A validated pack by shipped name or path.

    Raises:
        PolicyPackError: no such pack/file, unparsable file, or a rule that fails validation
            (the message names file, line and rule: ``policies.pack_source.check_pack``).
    """
    from policies.pack_source import read_pack

    return read_pack(resolve_pack(name_or_path))
