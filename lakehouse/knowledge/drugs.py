"""Drug name normalization: brand names, synonyms and spellings to one canonical drug.

Backed by ``drug-named-entity-recognition`` (MIT; 20k drugs from DrugBank, MeSH, NHS and
Wikipedia with synonyms and brand names, matched exactly, offline). Its dictionary is a
bz2 pickle that takes seconds to load, so it is imported on first use, once.

Usage::

    normalize_drug("Coumadin")  # DrugRef(name='Warfarin', key='warfarin', drugbank_id='DB00682', ...)
    require_drug("warfarinn")   # UnknownDrugError: ... did you mean: warfarin?
"""

from __future__ import annotations

import difflib
import re
from functools import cache
from typing import Any

from pydantic import BaseModel, Field

from core.errors import SageError

_PUNCT = re.compile(r"[^\w\s]")


class DrugRef(BaseModel):
    """A drug resolved to its canonical entry."""

    name: str = Field(description="Canonical name, e.g. 'Warfarin'.")
    key: str = Field(description="Lower-cased canonical name; what interaction tables match on.")
    drugbank_id: str | None = Field(None, description="DrugBank accession, e.g. 'DB00682'.")
    mesh_id: str | None = Field(None, description="MeSH id as given by the drug dictionary.")
    query: str = Field(description="The name as the caller wrote it.")
    is_brand: bool = Field(False, description="The query was a brand name.")


class UnknownDrugError(SageError):
    """A drug name that the dictionary does not know; carries close matches as suggestions."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = f"did you mean: {', '.join(suggestions)}?" if suggestions else "check the spelling or use the generic name"
        super().__init__(f"unknown drug {name!r}", hint=hint)
        self.name = name
        self.suggestions = suggestions


@cache
def _finder() -> Any:
    # Import inside: loading the dictionary takes seconds and most processes never need it.
    from drug_named_entity_recognition import drugs_finder

    return drugs_finder


def _tokens(name: str) -> list[str]:
    return _PUNCT.sub(" ", name).split()


def normalize_drug(name: str) -> DrugRef | None:
    """The canonical drug for a generic name, brand name or synonym; ``None`` when unknown.

    Punctuation is stripped first ("Zocor®", "co-trimoxazole"). The whole name must resolve to
    one drug: a phrase in which only one word is a drug ("warfarin sodium tablets") resolves to
    it, but free text with several drugs resolves to none.
    """
    tokens = _tokens(name)
    if not tokens:
        return None
    finder = _finder()
    matches = finder.find_drugs(tokens, is_ignore_case=True)
    names = {str(m[0].get("name", "")).lower() for m in matches if m[0].get("name")}
    if len(names) != 1:
        # "potassium chloride" also matches "potassium": prefer the match covering the most tokens.
        widest = max(matches, key=lambda m: m[2] - m[1], default=None)
        if widest is None or (widest[2] - widest[1]) < len(tokens):
            return None
        matches = [widest]
    return _drug_ref(matches[0][0], name)


def _drug_ref(data: dict[str, Any], query: str) -> DrugRef:
    """A dictionary entry as a ``DrugRef`` for the name as the caller wrote it."""
    canonical = str(data.get("name"))
    return DrugRef(
        name=canonical,
        key=canonical.lower(),
        drugbank_id=data.get("drugbank_id"),
        mesh_id=data.get("mesh_id"),
        query=query,
        is_brand=bool(data.get("is_brand", False)),
    )


@cache
def _vocabulary() -> list[str]:
    return sorted(_finder().drug_variant_to_canonical)


def suggest_drugs(name: str, n: int = 3) -> list[str]:
    """Known drug names closest in spelling to ``name`` (for error messages)."""
    query = " ".join(_tokens(name)).lower()
    return difflib.get_close_matches(query, _vocabulary(), n=n, cutoff=0.75)


def require_drug(name: str) -> DrugRef:
    """Like :func:`normalize_drug`, for callers that cannot go on without a known drug.

    Raises:
        UnknownDrugError: the name resolves to no drug; suggestions list close spellings.
    """
    ref = normalize_drug(name)
    if ref is None:
        raise UnknownDrugError(name, suggest_drugs(name))
    return ref


def drugs_in_text(text: str) -> list[DrugRef]:
    """Every known drug a free text names, in order of first mention, each once.

    Uses the same dictionary as :func:`normalize_drug`, matched over the whole token list, so
    multi-word names ("potassium chloride") win over their parts.
    """
    tokens = _tokens(text)
    if not tokens:
        return []
    matches = sorted(_finder().find_drugs(tokens, is_ignore_case=True), key=lambda m: (m[1], -(m[2] - m[1])))
    found: dict[str, DrugRef] = {}
    covered_until = -1
    for data, start, end in matches:
        canonical = str(data.get("name") or "")
        if not canonical or start < covered_until or canonical.lower() in found:
            continue
        covered_until = end
        found[canonical.lower()] = _drug_ref(data, " ".join(tokens[start:end]))
    return list(found.values())
