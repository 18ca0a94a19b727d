"""Fast pattern scrubbing of free text for data scopes that must not see identifiers in text.

A researcher's catalog holds report text (findings, impression, indication, comparison) for
thousands of rows, built when the scope is opened; the full Presidio + spaCy redactor
(:mod:`policies.phi`) costs milliseconds per text, this costs microseconds. It applies the
redactor's own patterns (:data:`policies.phi_recognizers.PATTERNS`: dates, ages over 89, MRNs,
accession numbers, phones, addresses, "Dr. <name>") and nothing model-based, which is enough for
the raw tier's report text: the generator only ever writes those PHI types into it (the patient's
name, MRN and address live in the ``patients`` columns, which scopes drop).
"""

from __future__ import annotations

import functools
from typing import Any

PLACEHOLDERS: dict[str, str] = {
    "MRN": "[MRN]",
    "ACCESSION": "[ACCESSION]",
    "DATE": "[DATE]",
    "PERSON": "[NAME]",
    "PHONE_NUMBER": "[PHONE]",
    "AGE_OVER_89": "[AGE]",
    "STREET_ADDRESS": "[ADDRESS]",
}


@functools.cache
def _compiled() -> list[tuple[Any, str]]:
    # The `regex` module: the patterns use variable-width look-behinds ("(?<=Dr|Doctor ...)").
    import regex

    from policies.phi_recognizers import PATTERNS

    return [(regex.compile(rx, regex.MULTILINE), PLACEHOLDERS.get(entity, "[PHI]")) for entity, rules in PATTERNS.items() for _, rx, _ in rules]


def scrub_text(text: str | None) -> str | None:
    """``text`` with every pattern-matched identifier replaced by its placeholder (None stays None)."""
    if not text:
        return text
    for pattern, placeholder in _compiled():
        text = pattern.sub(placeholder, text)
    return text
