"""Task inputs read off a chat message: patient ids, drug names, the clinical text after a request.

Chat turns arrive as one free-text line ("can I give clarithromycin to patient 3f2c... on
simvastatin?"). Each task input model that can be built from such a line has a ``from_text``
classmethod; the pieces they share live here so every task reads ids and drugs the same way.
Extraction is deliberately literal (regular expressions and the offline drug dictionary): a
clinician can see exactly why a word was taken as a drug or an id, and nothing is guessed.
"""

from __future__ import annotations

import re

from lakehouse.knowledge.drugs import drugs_in_text

__all__ = ["clinical_text", "drugs_in_text", "patient_id_in"]

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
# "patient P12", "patient id: 12345", "for pt MRN-77" - the id must contain a digit.
_NAMED_ID = re.compile(r"\b(?:patient|pt)\.?\s*(?:id\s*)?[:#]?\s*([A-Za-z0-9][A-Za-z0-9_-]{0,63})", re.I)
# "Draft an impression for these findings: <text>" - the request phrase ends at the first colon.
_REQUEST_PREFIX = re.compile(r"^[^:\n]{0,120}?\b(?:findings?|report|impression|x-?ray|cxr|text)\b[^:\n]*:\s*", re.I)


def patient_id_in(text: str) -> str | None:
    """The patient id a message names: a UUID anywhere, or the token after "patient"/"pt"."""
    if match := _UUID.search(text):
        return match.group(0)
    for match in _NAMED_ID.finditer(text):
        token = match.group(1)
        if any(ch.isdigit() for ch in token):
            return token
    return None


def clinical_text(text: str) -> str:
    """The clinical part of a request: what follows "...findings:" when there is such a prefix."""
    stripped = _REQUEST_PREFIX.sub("", text.strip(), count=1)
    return stripped.strip() or text.strip()
