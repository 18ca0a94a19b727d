"""Grounding check: which claims of a draft the evidence and the query findings do not support.

Two signals per claim (a sentence or clause of the draft):

- lexical: the share of its content terms (stop words and report boilerplate removed, compared
  by a 5-letter stem) found in the evidence texts or the query findings;
- findings: with a ``labeler`` (e.g. the lakehouse labeler's ``label_text``; ``policies`` cannot
  import it), every finding the claim states present must be present or uncertain in the query
  findings or some evidence text, and a finding the claim states absent must not be present in
  the query findings (a contradiction).

A claim is unsupported when its coverage is under ``min_coverage`` or a finding fails. This is
a screen for human review, not a proof of correctness: paraphrase lowers coverage, and shared
words do not guarantee shared meaning.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from policies.guards.verdict import ClaimCheck, GroundingReport

Labeler = Callable[[str], Mapping[str, str]]

_SPLIT = re.compile(r"(?<=[.;!?])\s+|\n+|(?<=\d)\.\s")
_WORD = re.compile(r"[a-z][a-z-]{2,}")
STOP = frozenset(
    """the and with without for from are was were has have had this that these those there their which
    into onto over under within upon than then also both either neither seen noted identified evident
    present visualized demonstrated appear appears appearing shows showing show given may might could
    likely possibly probably suggest suggests suggestive consistent compatible concerning raising
    question not nor any other seen again since prior previous compared comparison exam examination
    study studies image images film films view views chest x-ray xray radiograph radiographs
    impression findings finding report normal abnormal abnormality abnormalities acute chronic
    stable unchanged change changes changed interval new old evidence limits within size sized
    appearance contour contours clear clearly well mild mildly moderate moderately small large
    left right bilateral bilaterally slight slightly minimal there noted process processes disease
    significant definite definitely grossly otherwise overall remain remains remaining visible
    cardiopulmonary""".split()
)


def _stem(word: str) -> str:
    return word[:5]


def terms(text: str) -> list[str]:
    """Content words of ``text`` (lower case, stop words and boilerplate removed), in order, unique."""
    return list(dict.fromkeys(w.strip("-") for w in _WORD.findall(text.lower()) if w.strip("-") not in STOP and len(w.strip("-")) > 2))


def claims(draft: str) -> list[str]:
    """Sentences/clauses of a draft (numbered list markers removed)."""
    parts = [re.sub(r"^\s*(?:\d+[.)]|[-*•])\s*", "", p).strip() for p in _SPLIT.split(draft or "")]
    return [p for p in parts if re.search(r"[A-Za-z]{3,}", p)]


def _positive(labels: Mapping[str, str]) -> set[str]:
    return {k for k, v in labels.items() if v in ("present", "uncertain") and k != "no_finding"}


def check_grounding(
    draft: str,
    evidence_texts: Iterable[str],
    query_findings: str,
    labeler: Labeler | None = None,
    min_coverage: float = 0.5,
) -> GroundingReport:
    """Check every claim of ``draft`` against ``evidence_texts`` and ``query_findings``.

    Args:
        draft: The generated text (e.g. an impression).
        evidence_texts: Texts the draft may rely on (retrieved cases' findings and impressions).
        query_findings: The findings the draft is about; they support claims like evidence does.
        labeler: Optional ``text -> {finding: state}`` (states ``present``/``absent``/``uncertain``).
        min_coverage: Share of a claim's content terms that must be found for it to be supported.
    """
    sources = [query_findings, *evidence_texts]
    vocabulary = {_stem(t) for s in sources for t in terms(s)}
    query_pos: set[str] = set()
    evidence_pos: set[str] = set()
    if labeler is not None:
        query_pos = _positive(labeler(query_findings))
        for text in sources[1:]:
            evidence_pos |= _positive(labeler(text))
    checks: list[ClaimCheck] = []
    for claim in claims(draft):
        words = terms(claim)
        missing = [w for w in words if _stem(w) not in vocabulary]
        coverage = 1.0 if not words else round(1 - len(missing) / len(words), 4)
        bad_findings: list[str] = []
        if labeler is not None:
            labels = labeler(claim)
            bad_findings += sorted(_positive(labels) - query_pos - evidence_pos)
            bad_findings += sorted(f"{k} (stated absent, query says present)" for k, v in labels.items() if v == "absent" and k in query_pos and k != "no_finding")
        supported = coverage >= min_coverage and not bad_findings
        checks.append(ClaimCheck(claim=claim, supported=supported, coverage=coverage, unsupported_terms=missing, unsupported_findings=bad_findings))
    return GroundingReport(claims=checks, min_coverage=min_coverage)
