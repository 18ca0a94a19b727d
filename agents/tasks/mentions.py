"""Case ids and finding names read off a chat line, shared by the search, feedback and answer tasks.

Clinicians write "CXR45", "case 880" or "report 880" for the same kind of id (case id == report
id, ``CXR<n>``), and "effusion" for ``pleural_effusion``. Literal patterns only, like
``agents.tasks.text_inputs``: a reviewer can see why a word was taken as an id or a finding.
"""

from __future__ import annotations

import re

from lakehouse.findings import FINDINGS

_CASE = re.compile(r"\b(CXR\d{1,6})\b|\b(?:case|report|study)\s*#?\s*(\d{1,6})\b", re.IGNORECASE)
# Last word of a finding key -> the key ("effusion" -> pleural_effusion); words too vague to mean one finding are left out.
_TAILS = {k.split("_")[-1]: k for k in FINDINGS if k.split("_")[-1] not in ("other", "finding", "devices")}


def case_id_in(text: str) -> str | None:
    """``CXR45`` for "CXR45", "case 45" or "report 45"; ``None`` when the line names no case."""
    match = _CASE.search(text)
    if not match:
        return None
    return match.group(1).upper() if match.group(1) else f"CXR{match.group(2)}"


def findings_in(text: str) -> list[str]:
    """Finding keys named in the line, by display name, key, or the key's last word."""
    lowered = text.lower().replace("_", " ")
    found = [k for k, name in FINDINGS.items() if name.lower() in lowered or k.replace("_", " ") in lowered]
    return found or [k for word, k in _TAILS.items() if re.search(rf"\b{word}\b", lowered)]
