"""Report-quality metrics: ROUGE-L, BLEU-4, label F1 (per finding, micro, macro, 5-finding), bootstrap CIs.

Kept free of I/O and of the lakehouse so that each metric can be checked on hand-computed
examples (tests/evals/test_metrics.py) and reused by every evaluation script.

Label F1 compares the findings the project labeler reads as *positive* (present or
uncertain) in a draft with those it reads as positive in the radiologist's impression, for the 14 CheXpert findings (``no_finding``
included: a draft that calls an abnormal case normal is wrong on that axis too). A finding
with no positive in either the drafts or the references has F1 0 in the macro mean, as in the
baselines of issue 18; the labeler is therefore the judge of the clinical axis, not a person.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence

from pydantic import BaseModel, Field

from lakehouse.findings import FINDING_KEYS

COMMON_FIVE: tuple[str, ...] = ("atelectasis", "cardiomegaly", "consolidation", "edema", "pleural_effusion")
"""The five common findings of the CheXpert competition, scored as one micro F1 ("F1-5")."""


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (letters and digits)."""
    return re.findall(r"[a-z0-9]+", text.lower())


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 (beta = 1) from the longest common subsequence of word tokens."""
    from agents.tasks.report_edit import lcs_f1

    return lcs_f1(tokens(candidate), tokens(reference))


def bleu4(candidates: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 (sacrebleu, default 13a tokenisation), on a 0-1 scale."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(candidates), [list(references)]).score) / 100.0


def positive(labels: Mapping[str, str]) -> set[str]:
    """Findings stated as present or possible (``no_finding`` when the labeler calls the text normal)."""
    return {k for k, v in labels.items() if v in ("present", "uncertain")}


class Counts(BaseModel):
    """True/false positives and false negatives of one finding."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def f1(self) -> float:
        """F1, 0 when there are no positives on either side."""
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


class LabelScores(BaseModel):
    """Label agreement of drafts with references."""

    micro_f1: float = Field(description="Micro F1 over the 14 findings.")
    macro_f1: float = Field(description="Mean per-finding F1 over the 14 findings.")
    f1_5: float = Field(description="Micro F1 over the five common findings.")
    per_finding: dict[str, float]
    support: dict[str, int] = Field(description="Reference positives per finding.")


def finding_counts(predicted: Sequence[set[str]], reference: Sequence[set[str]], keys: Sequence[str] = FINDING_KEYS) -> dict[str, Counts]:
    """Per finding: tp, fp, fn over the cases."""
    counts = {k: Counts() for k in keys}
    for p, r in zip(predicted, reference, strict=True):
        for k in keys:
            c = counts[k]
            c.tp += k in p and k in r
            c.fp += k in p and k not in r
            c.fn += k not in p and k in r
    return counts


def _micro(counts: dict[str, Counts], keys: Sequence[str]) -> float:
    tp = sum(counts[k].tp for k in keys)
    fp = sum(counts[k].fp for k in keys)
    fn = sum(counts[k].fn for k in keys)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def label_scores(predicted: Sequence[set[str]], reference: Sequence[set[str]]) -> LabelScores:
    """Micro, macro and 5-finding F1 of predicted vs reference present-finding sets."""
    counts = finding_counts(predicted, reference)
    per = {k: round(c.f1, 4) for k, c in counts.items()}
    return LabelScores(
        micro_f1=round(_micro(counts, FINDING_KEYS), 4),
        macro_f1=round(sum(c.f1 for c in counts.values()) / len(counts), 4),
        f1_5=round(_micro(counts, COMMON_FIVE), 4),
        per_finding=per,
        support={k: c.tp + c.fn for k, c in counts.items()},
    )


class Interval(BaseModel):
    """A point estimate with its 95 % percentile-bootstrap interval."""

    value: float
    low: float
    high: float


def bootstrap(statistic: Callable[[Sequence[int]], float], n: int, *, samples: int = 1000, seed: int = 0) -> Interval:
    """95 % percentile bootstrap of ``statistic(indices)`` over ``n`` cases (resampled with replacement, seeded)."""
    rng = random.Random(seed)
    value = statistic(range(n))
    draws = sorted(statistic([rng.randrange(n) for _ in range(n)]) for _ in range(samples)) if n else [value]
    low, high = draws[int(0.025 * (len(draws) - 1))], draws[int(round(0.975 * (len(draws) - 1)))]
    return Interval(value=round(value, 4), low=round(low, 4), high=round(high, 4))
