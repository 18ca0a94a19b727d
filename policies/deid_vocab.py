"""Allow-list and deny-list vocabularies of the redactor: what is never masked, and what always is.

The allow-list stops spaCy from taking clinical words for people and places ("FDA label
Coumadin" is a citation, not a patient called Coumadin; "Patchy opacity" is a finding). It only
vetoes *uncertain* spans (spaCy's NER, city-shaped words, labelled names): a record number, a date
or a known patient's name is masked whatever words it is made of. The deny-list is the other
way round: the system knows who its patients and clinicians are, so their names are masked even
where no model would recognise them as names.

Sources of the allow-list: :data:`policies.phi_terms.CLINICAL_TERMS` and
:data:`~policies.phi_terms.COMMON_WORDS`, every one-word generic or brand drug name of the
installed ``drug-named-entity-recognition`` dictionary (~26,000 names, no download), and any
vocabulary passed in (the lakehouse passes its labeler's finding words; policies may not
import lakehouse).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from policies.phi_terms import CLINICAL_TERMS, COMMON_WORDS

_WORD = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")
# Drug dictionary entries that are also common US given names or surnames: a patient called
# Angelica must still be masked, so these never enter the allow-list.
_NAME_COLLISIONS = frozenset({"angelica"})


def drug_words() -> frozenset[str]:
    """Lower-case one-word drug names (generic and brand) from ``drug-named-entity-recognition``.

    Loading the package's dictionary takes a few seconds; call once per :class:`policies.deid.Redactor`.
    """
    from drug_named_entity_recognition import drugs_finder

    variants: Iterable[str] = drugs_finder.d["drug_variant_to_canonical"]
    return frozenset(v for v in variants if v.isalpha() and len(v) >= 4 and v not in _NAME_COLLISIONS)


def words_of(vocabulary: Iterable[str]) -> set[str]:
    """The lower-case words of phrases such as ``"pleural effusion"`` (regex fragments allowed)."""
    out: set[str] = set()
    for phrase in vocabulary:
        out.update(w for w in _WORD.findall(phrase.lower()) if len(w) >= 3)
    return out


def build_allow_list(extra: Iterable[str] = (), drugs: bool = True) -> frozenset[str]:
    """Words that never make up an uncertain PHI span on their own (lower case)."""
    words = set(CLINICAL_TERMS) | set(COMMON_WORDS) | words_of(extra)
    if drugs:
        words |= drug_words()
    return frozenset(words - _NAME_COLLISIONS)


def split_names(names: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Full names (lower case, single-spaced) and their single name tokens, from raw name strings.

    ``"Wong, Alice"``, ``"Alice Wong"`` and ``"Alice"`` are all accepted. Tokens shorter than two
    letters are dropped (initials would mask every "A" in a text).
    """
    full: set[str] = set()
    tokens: set[str] = set()
    for raw in names:
        parts = [p for p in re.split(r"[\s,]+", raw.strip().lower()) if p]
        if not parts:
            continue
        if "," in raw:  # "Family, Given" -> "given family"
            parts = parts[1:] + parts[:1]
        if len(parts) > 1:
            full.add(" ".join(parts))
        tokens.update(p.strip(".") for p in parts if len(p.strip(".")) >= 2)
    return frozenset(full), frozenset(tokens)
