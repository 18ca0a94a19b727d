"""What the case builders (``build_*.py``) share: one case record, its id, and the JSONL they write.

The builders run as scripts from this folder (``python tests/security/data/build_dev2.py``), so
they import this module as ``casefile``.
"""

import hashlib
import json
from pathlib import Path

FIELDS = ("id", "split", "label", "must_block", "guard", "category", "owasp", "source", "text")


def case(cat: str, guard: str, source: str, text: str, label: str = "attack", must_block: bool = True, owasp: str = "") -> dict:
    """One labelled case; only an attack can be one that must be blocked."""
    return dict(category=cat, guard=guard, source=source, text=text, label=label, must_block=must_block if label == "attack" else False, owasp=owasp)


def case_id(c: dict) -> str:
    """A stable id from the case's source and text (the same text from two sources is two cases)."""
    return hashlib.sha256((c["source"] + "|" + c["text"]).encode()).hexdigest()[:12]


def write_jsonl(cases: list[dict], path: Path) -> None:
    """The cases, one JSON object per line, fields in :data:`FIELDS` order."""
    with path.open("w") as f:
        for c in cases:
            f.write(json.dumps({k: c[k] for k in FIELDS}, ensure_ascii=False) + "\n")
