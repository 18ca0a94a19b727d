"""Compatibility entry point of the PHI redactor: the former names of :mod:`policies.deid`.

The redactor itself is :class:`policies.deid.Redactor`; construct it explicitly (with the known
names of the raw tier, see :func:`lakehouse.deid_names.known_identities`). An installation's
one instance lives on ``tools.resources.Resources.redactor``; no module keeps another.

Usage::

    from policies.deid import Redactor
    Redactor().redact("Dr. Alice Wong called on March 3, 2012.").text
    # 'Dr. [NAME] called on [DATE].'
"""

from __future__ import annotations

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
           "PhiRedactor", "RedactionResult", "Redactor"]
