"""Content checks of the governance agent: prompt-injection heuristics and grounding of citations.

These are heuristics, deliberately conservative: a match sends the request to denial (input)
or the output to human review; it never silently rewrites clinical content.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

INJECTION_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"ignore (all |any )?(the )?(previous|prior|above) (instructions|rules|prompts?)",
        r"disregard (the |all )?(system|previous|above)",
        r"you are now (a|an|in) ",
        r"(reveal|print|show) (me )?(the |your )?(system prompt|hidden instructions)",
        r"<\|?(im_start|im_end|system)\|?>",
        r"act as (an? )?(admin|administrator|root|developer)",
        r"(override|bypass|disable) (the )?(policy|policies|governance|safety|guard)",
    )
)

CITATION_KEYS = frozenset({"citations", "cited_ids", "cited_cases", "evidence_ids", "case_ids", "retrieved"})


def strings_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every string leaf in a JSON value, skipping id-like keys."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_id") or key in CITATION_KEYS or key == "ids":
                continue
            yield from strings_in(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings_in(item, f"{path}[{i}]")


def injection_hits(value: Any) -> list[str]:
    """Paths of string leaves that look like prompt injection."""
    return [path or "(text)" for path, text in strings_in(value) if any(p.search(text) for p in INJECTION_PATTERNS)]


def cited_ids(value: Any) -> set[str]:
    """Ids an output cites: lists under citation keys, and ``case_id`` fields of cited items."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in CITATION_KEYS and isinstance(item, list):
                found |= {str(i) for i in item if isinstance(i, str | int)}
                found |= {str(i["case_id"]) for i in item if isinstance(i, dict) and "case_id" in i}
            else:
                found |= cited_ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= cited_ids(item)
    return found


def set_path(value: Any, path: str, text: str) -> None:
    """Replace the string leaf at ``path`` (as produced by :func:`strings_in`) in place."""
    tokens = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    target = value
    for token in tokens[:-1]:
        target = target[int(token[1:-1])] if token.startswith("[") else target[token]
    last = tokens[-1]
    if last.startswith("["):
        target[int(last[1:-1])] = text
    else:
        target[last] = text
