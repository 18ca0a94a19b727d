"""Guards at the governance boundary: injection, harm, quoting of untrusted text, grounding.

Pure functions over text with typed results (:mod:`policies.guards.verdict`); they import only
``core`` and the standard library, so every layer above can call them. Wiring: the governance
agent runs :func:`detect_harm` and :func:`detect_injection` (source ``user``) on the request
before any task, :func:`detect_injection` (source ``retrieved``/``tool``) on evidence, and
:func:`check_grounding` on drafts; prompts fence retrieved text with :func:`quote_untrusted`.
"""

from policies.guards.grounding import Labeler, check_grounding
from policies.guards.harm import detect_harm
from policies.guards.injection import detect_injection
from policies.guards.quoting import UNTRUSTED_NOTE, quote_untrusted, strip_control
from policies.guards.verdict import ClaimCheck, GroundingReport, GuardVerdict, RuleHit, Source

__all__ = [
    "ClaimCheck",
    "GroundingReport",
    "GuardVerdict",
    "Labeler",
    "RuleHit",
    "Source",
    "UNTRUSTED_NOTE",
    "check_grounding",
    "detect_harm",
    "detect_injection",
    "quote_untrusted",
    "strip_control",
]
