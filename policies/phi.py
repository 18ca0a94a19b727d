"""Compatibility entry point of the PHI redactor for existing callers (``get_redactor()``).

The redactor itself is :class:`policies.deid.Redactor`; construct it explicitly (with the known
names of the raw tier, see :func:`lakehouse.deid_names.known_identities`) wherever a resources
object can hold it. :func:`get_redactor` keeps the process-wide instance the governance tools
and dataset builders use today, built without known names.

Usage::

    from policies.phi import get_redactor
    get_redactor().redact("Dr. Alice Wong called on March 3, 2012.").text
    # 'Dr. [NAME] called on [DATE].'
"""

from __future__ import annotations

import threading

from policies.deid import (
    PLACEHOLDER,
    SCORE_THRESHOLD,
    SPACY_MODEL,
    DeidOptions,
    PhiEngineError,
    PhiEntity,
    RedactionResult,
    Redactor,
)

PhiRedactor = Redactor
"""Former name of :class:`policies.deid.Redactor`."""

__all__ = ["PLACEHOLDER", "SCORE_THRESHOLD", "SPACY_MODEL", "DeidOptions", "PhiEngineError", "PhiEntity",
           "PhiRedactor", "RedactionResult", "Redactor", "get_redactor"]

_lock = threading.Lock()
_redactor: Redactor | None = None


def get_redactor() -> Redactor:
    """The process-wide redactor, built on first use (a few seconds: loads spaCy) under a lock."""
    global _redactor
    if _redactor is None:
        with _lock:
            if _redactor is None:
                _redactor = Redactor()
    return _redactor
