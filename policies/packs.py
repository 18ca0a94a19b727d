"""Policy packs: who may use which tools, tables, columns and data, as one versioned document.

A pack is data (JSON or YAML), validated by pydantic, so a site changes governance without
changing code. The engine (:mod:`policies.engine`) evaluates it; roles not in the pack get
nothing (deny by default).

Usage::

    pack = load_pack("default")              # policies/packs/default.json
    pack = load_pack("/etc/sage/site.yaml")  # a site's own pack
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from core.errors import SageError


class PolicyPackError(SageError):
    """A policy pack cannot be found or does not validate; names the file and field."""


class RolePolicy(BaseModel):
    """What one role may do. ``None`` for sites/consents means no restriction on that tag."""

    allowed_tools: list[str] = Field(default_factory=list, description="Tool names the role may call; '*' allows all.")
    allowed_tables: list[str] = Field(default_factory=list, description="Raw-tier tables the role may read; '*' allows all.")
    denied_columns: dict[str, list[str]] = Field(default_factory=dict, description="Table ('*' for any) -> columns the role never sees.")
    sites: list[str] | None = Field(None, description="Site tags the role may see; None = all sites.")
    consents: list[str] | None = Field(None, description="Consent tags the role may see; None = any consent.")
    max_sensitivity: int = Field(3, ge=0, le=5, description="Highest record sensitivity level (0 public .. 5 most restricted).")
    can_relabel: bool = Field(False, description="May submit label corrections (feedback).")
    purposes: list[str] = Field(default_factory=list, description="Purposes of use the role may declare ('treatment', 'research', ...).")
    # Data-scope rules (policies.scope.DataScope): what the role's own DuckDB catalog holds.
    # Defaults are the restrictive choice, so a pack that omits them leaks nothing by accident.
    date_precision: Literal["day", "month", "year"] = Field("year", description="Dates and timestamps the role sees: exact ('day'), 'YYYY-MM' ('month') or 'YYYY' ('year').")
    age_detail: Literal["exact", "band", "none"] = Field("none", description="Derived age column: exact completed years ('age'), 5-year band ('age_band', '90+' over 89), or none.")
    history: bool = Field(False, description="May read the <table>_history views (every version, with provenance).")
    free_text: Literal["keep", "scrub"] = Field("scrub", description="Report/encounter free text as stored, or with dates, names, ages over 89 and identifiers replaced by placeholders.")


class PolicyPack(BaseModel):
    """A named, versioned set of role policies and output/review rules."""

    name: str
    version: str
    roles: dict[str, RolePolicy]
    min_retrieval_similarity: float = Field(0.3, ge=-1.0, le=1.0, description="Below this best-hit similarity, outputs go to human review.")
    review_on_uncertain_findings: bool = Field(True, description="Send drafts with uncertain findings to human review.")
    phi_output: Literal["redact", "deny"] = Field("redact", description="What to do when an output contains PHI.")
    sites: list[str] = Field(default_factory=list, description="Sites (hospitals) of this deployment; a data scope for any other site is refused.")

    @model_validator(mode="after")
    def _roles_named(self) -> PolicyPack:
        for role in self.roles:
            if not role or role != role.strip().lower():
                raise ValueError(f"role names are lower-case without spaces; got {role!r}")
        return self


def packs_folder() -> Path:
    """Folder of the packs shipped with the code."""
    return Path(str(resources.files("policies") / "packs"))


def load_pack(name_or_path: str | Path) -> PolicyPack:
    """A pack by shipped name ("default") or by path to a ``.json``/``.yaml``/``.yml`` file.

    Raises:
        PolicyPackError: no such pack/file, unparsable file, or a field that fails validation.
    """
    path = Path(name_or_path)
    if path.suffix not in (".json", ".yaml", ".yml"):
        path = packs_folder() / f"{name_or_path}.json"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in packs_folder().glob("*.json")))
        raise PolicyPackError(f"policy pack {str(name_or_path)!r} not found ({path})", hint=f"shipped packs: {shipped}; or give a .json/.yaml path")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
        return PolicyPack.model_validate(data)
    except (json.JSONDecodeError, ValueError) as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()) if isinstance(exc, ValidationError) else str(exc)
        raise PolicyPackError(f"{path}: invalid policy pack: {detail}", hint="fix the named field") from exc
