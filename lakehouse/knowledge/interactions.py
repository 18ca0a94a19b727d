"""Drug-drug interaction checks over a curated, cited table that users can extend.

No open English interaction dataset ships offline, so the project curates a small table
(``interactions.csv``: well-known, clinically important pairs, each with a public source) and
lets a site import its own (``InteractionTable.from_csv``) and merge it with the default.
A side of a pair is a drug ("warfarin") or a class ("class:nsaids"); names are normalized
through :mod:`lakehouse.knowledge.drugs`, so brand names and synonyms match ("Coumadin").

Usage::

    InteractionTable.default().check(["Coumadin", "metformin"], "ibuprofen")
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from core.errors import SageError
from lakehouse.knowledge.drugs import UnknownDrugError, require_drug

Severity = Literal["contraindicated", "major", "moderate", "minor"]
SEVERITY_RANK: dict[str, int] = {"contraindicated": 0, "major": 1, "moderate": 2, "minor": 3}
COLUMNS = ("drug_a", "drug_b", "severity", "mechanism", "management", "source")

# Drug classes a table may name as "class:<name>" -> lower-cased canonical member names.
DRUG_CLASSES: dict[str, frozenset[str]] = {
    "nsaids": frozenset({"ibuprofen", "naproxen", "diclofenac", "celecoxib", "indomethacin", "ketorolac", "meloxicam", "ketoprofen"}),
    "ssris": frozenset({"sertraline", "fluoxetine", "paroxetine", "citalopram", "escitalopram", "fluvoxamine"}),
    "maois": frozenset({"phenelzine", "tranylcypromine", "isocarboxazid", "selegiline", "moclobemide"}),
    "nitrates": frozenset({"nitroglycerin", "isosorbide mononitrate", "isosorbide dinitrate"}),
    "pde5 inhibitors": frozenset({"sildenafil", "tadalafil", "vardenafil"}),
    "ace inhibitors": frozenset({"lisinopril", "enalapril", "ramipril", "captopril", "perindopril"}),
    "thiazides": frozenset({"hydrochlorothiazide", "chlorthalidone", "indapamide"}),
    "fluoroquinolones": frozenset({"ciprofloxacin", "levofloxacin", "moxifloxacin"}),
    "iodinated contrast": frozenset({"iohexol", "iopamidol", "iodixanol", "ioversol"}),
}
# What a caller may type for a class.
CLASS_ALIASES: dict[str, str] = {
    "nsaid": "nsaids", "nsaids": "nsaids", "non-steroidal anti-inflammatory drugs": "nsaids",
    "ssri": "ssris", "ssris": "ssris", "maoi": "maois", "maois": "maois", "nitrate": "nitrates", "nitrates": "nitrates",
    "ace inhibitor": "ace inhibitors", "ace inhibitors": "ace inhibitors", "thiazide": "thiazides", "thiazides": "thiazides",
    "pde5 inhibitor": "pde5 inhibitors", "pde5 inhibitors": "pde5 inhibitors", "fluoroquinolone": "fluoroquinolones",
    "fluoroquinolones": "fluoroquinolones", "iodinated contrast": "iodinated contrast", "contrast": "iodinated contrast",
}


class InteractionTableError(SageError):
    """An interaction table file is malformed; names the file, row and column."""


class Interaction(BaseModel):
    """One interacting pair; in check results, ``between`` says which of the caller's drugs matched."""

    drug_a: str
    drug_b: str
    severity: Severity
    mechanism: str
    management: str
    source: str = Field(description="Public reference for the pair (label section, BNF, named review).")
    between: tuple[str, str] | None = Field(None, description="(current drug, proposed drug) as the caller named them.")


def _identities(name: str) -> set[str]:
    """What a name can match in a table: its canonical drug key plus its classes (or the class itself)."""
    lowered = " ".join(name.lower().split())
    if lowered.startswith("class:") or lowered in CLASS_ALIASES:
        cls = CLASS_ALIASES.get(lowered.removeprefix("class:"), lowered.removeprefix("class:"))
        return {f"class:{cls}"}
    key = require_drug(name).key
    return {key} | {f"class:{cls}" for cls, members in DRUG_CLASSES.items() if key in members}


class InteractionTable:
    """A list of interactions with lookup by (normalized) drug pair."""

    def __init__(self, rows: list[Interaction]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    @cache
    def default(cls) -> InteractionTable:
        """The curated table shipped with the package."""
        ref = resources.files("lakehouse.knowledge") / "interactions.csv"
        with resources.as_file(ref) as path:
            return cls.from_csv(path)

    @classmethod
    def from_csv(cls, path: Path | str) -> InteractionTable:
        """Read a table with columns drug_a, drug_b, severity, mechanism, management, source.

        Raises:
            InteractionTableError: missing file or columns, an empty cell, an unknown severity or
                class; the message names the row (file line number) and column.
        """
        path = Path(path)
        if not path.is_file():
            raise InteractionTableError(f"{path}: no such file", hint="give the path of a CSV interaction table")
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InteractionTableError(f"{path}: missing column(s) {', '.join(missing)}", hint=f"the header must be: {','.join(COLUMNS)}")
            rows = [cls._row(path, line, record) for line, record in enumerate(reader, start=2)]
        return cls(rows)

    @staticmethod
    def _row(path: Path, line: int, record: dict[str, str | None]) -> Interaction:
        values = {c: (record.get(c) or "").strip() for c in COLUMNS}
        for column, value in values.items():
            if not value:
                raise InteractionTableError(f"{path}: row {line}, column {column!r}: empty", hint="every column needs a value")
        if values["severity"].lower() not in SEVERITY_RANK:
            raise InteractionTableError(
                f"{path}: row {line}, column 'severity': {values['severity']!r} is not a severity",
                hint=f"use one of: {', '.join(SEVERITY_RANK)}",
            )
        for column in ("drug_a", "drug_b"):
            value = values[column].lower()
            if value.startswith("class:"):
                if value.removeprefix("class:") not in DRUG_CLASSES:
                    raise InteractionTableError(f"{path}: row {line}, column {column!r}: unknown class {value!r}", hint=f"known classes: {', '.join(DRUG_CLASSES)}")
            else:
                try:
                    value = require_drug(value).key  # brand names and synonyms in a site's table
                except UnknownDrugError as exc:
                    raise InteractionTableError(f"{path}: row {line}, column {column!r}: unknown drug {value!r}", hint=exc.hint) from exc
            values[column] = value
        return Interaction(**{**values, "severity": values["severity"].lower()})  # type: ignore[arg-type]

    @classmethod
    def for_site(cls, folder: Path) -> InteractionTable:
        """The shipped table merged with every site table imported into ``folder`` (name order).

        Site rows override shipped rows for the same pair, and a later file overrides an
        earlier one; the result is cached until a file in the folder changes.
        """
        files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
        return _site_table(tuple((f, f.stat().st_mtime_ns) for f in files))

    def merged(self, other: InteractionTable) -> InteractionTable:
        """Combine with ``other``; for a pair in both, ``other``'s row wins (site overrides)."""

        def pair(row: Interaction) -> frozenset[str]:
            return frozenset((row.drug_a, row.drug_b))

        overridden = {pair(r) for r in other.rows}
        return InteractionTable([r for r in self.rows if pair(r) not in overridden] + list(other.rows))

    def partners(self, drug: str) -> list[Interaction]:
        """Every listed interaction of one drug (its classes included), most severe first.

        Answers "which drugs interact with warfarin?", where there is no current list to pair with.
        """
        ids = _identities(drug)
        hits = [row.model_copy(update={"between": (row.drug_b if row.drug_a in ids else row.drug_a, drug)}) for row in self.rows if row.drug_a in ids or row.drug_b in ids]
        return sorted(hits, key=lambda r: SEVERITY_RANK[r.severity])

    def check(self, current: list[str], proposed: str) -> list[Interaction]:
        """Interactions between a proposed drug and each current drug, most severe first.

        Raises:
            UnknownDrugError: a drug name resolves to no known drug (with suggestions).
        """
        proposed_ids = _identities(proposed)
        hits: list[Interaction] = []
        for drug in current:
            current_ids = _identities(drug)
            for row in self.rows:
                if (row.drug_a in proposed_ids and row.drug_b in current_ids) or (row.drug_b in proposed_ids and row.drug_a in current_ids):
                    hits.append(row.model_copy(update={"between": (drug, proposed)}))
        return sorted(hits, key=lambda r: SEVERITY_RANK[r.severity])


@cache
def _site_table(files: tuple[tuple[Path, int], ...]) -> InteractionTable:
    table = InteractionTable.default()
    for path, _mtime in files:
        table = table.merged(InteractionTable.from_csv(path))
    return table


def import_site_table(source: Path, folder: Path, name: str | None = None) -> tuple[Path, InteractionTable]:
    """Validate a site's interaction CSV and install it into ``folder``; returns (path, table).

    The file is checked in full first (a bad row raises ``InteractionTableError`` naming it and
    nothing is installed), then written to a temporary name and renamed into place, so a reader
    never sees half a table.
    """
    table = InteractionTable.from_csv(source)
    stem = name or Path(source).stem
    if not stem.replace("-", "").replace("_", "").isalnum():
        raise InteractionTableError(f"invalid table name {stem!r}", hint="use letters, digits, '-' and '_'")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}.csv"
    tmp = folder / f".{stem}.csv.tmp"
    tmp.write_bytes(Path(source).read_bytes())
    tmp.replace(target)
    return target, table
