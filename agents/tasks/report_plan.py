"""Which findings an impression states: a small learned planner for the retrieve-then-edit drafts (issue 18).

Why learned: radiologists restate most findings of the FINDINGS section in the impression, but
not all (old fractures, devices, small granulomas are often left out), and they name some that
the findings only describe ("airspace opacity" becomes "pneumonia"). A fixed rule or a vote of
neighbours gets the first part roughly right and misses the second. The planner learns both
from the lakehouse's own train-split reports, read by the project's labeler:

- **restate** (per finding): given the query's findings text states finding ``f``, is ``f`` in
  the impression? Features: the words of the sentences that state ``f``, whether every mention is
  uncertain, how many findings the text states;
- **infer** (per finding that impressions often add): given the findings text does not state
  ``f``, does the impression? Features: the findings the text states and the words of its
  positive sentences.

Each is an L2-regularised logistic regression; the probability above which the finding is
stated is chosen per finding by 5-fold cross-validation on the same training reports (never
on test or development cases), maximising that finding's F1. A finding the data cannot fit
(too few examples) keeps the safe default: restate it, never infer it. Inferred findings are
stated hedged ("Possible pneumonia.") and flagged for review by the report task.

The fitted planner is plain JSON (weights over word n-grams, and the inverse document
frequencies the editor uses to find reports in the same template): words and word pairs seen
in several reports, no whole sentence or report.

Usage::

    planner = fit_planner([(findings, impression), ...])
    planner.plan("Heart size enlarged. Right basilar airspace opacity.")
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lakehouse.findings import FINDING_KEYS

PLANNER_VERSION = "impression-planner-v2"  # v2: unfittable CV folds score at the default, not the truth
FOLDS = 5
MIN_EXAMPLES = 20  # fewer examples (or fewer than MIN_CLASS of either outcome): keep the default
MIN_CLASS = 3
MIN_COUNT = 3  # a feature must occur in this many training examples
L2 = 1.0
INFER_MIN = 15  # impressions must add the finding this often before an infer model is fitted
RESTATE_GRID = (0.0, 0.15, 0.25, 0.35, 0.45, 0.55)  # 0.0 = always restate
INFER_GRID = (0.2, 0.3, 0.4, 0.5, 0.6, 1.01)  # 1.01 = never infer
KEEP_PLANNERS = 8  # fitted planners kept on disk (one per scope and set of corrections)
_WORD = re.compile(r"[a-z0-9]+")
_ABNORMAL = tuple(f for f in FINDING_KEYS if f != "no_finding")


def ngrams(text: str) -> list[str]:
    """Lower-cased words and word bigrams (the planner's and the editor's lexical units)."""
    words = _WORD.findall(text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def positive_states(text: str) -> dict[str, str]:
    """Finding -> state for the findings (``no_finding`` excluded) the labeler reads as present or uncertain in ``text``."""
    from lakehouse.labeler import label_text

    return {k: v for k, v in label_text(text).items() if v in ("present", "uncertain") and k != "no_finding"}


def abnormal_positives(text: str) -> set[str]:
    """Findings (``no_finding`` excluded) the labeler reads as present or uncertain in ``text``."""
    return set(positive_states(text))


class FindingModel(BaseModel):
    """One logistic regression and the probability above which its finding is stated."""

    weights: dict[str, float] = Field(default_factory=dict, description="Feature -> weight (features absent here weigh 0).")
    bias: float = 0.0
    threshold: float = Field(0.0, description="State the finding when P >= threshold (0: always; > 1: never).")
    examples: int = 0
    rate: float = Field(0.0, description="Share of training examples whose impression stated the finding.")
    cv_f1: float | None = Field(None, description="Cross-validated F1 of the finding at the chosen threshold.")

    def probability(self, features: set[str]) -> float:
        """P(the impression states the finding) for these features."""
        z = self.bias + sum(self.weights.get(x, 0.0) for x in features)
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


class Plan(BaseModel):
    """What the impression will state, and why (kept in the draft's evidence)."""

    target: set[str] = Field(description="Abnormal findings the impression states (empty: a normal impression).")
    inferred: set[str] = Field(default_factory=set, description="Target findings the findings text does not state (stated hedged).")
    left_out: set[str] = Field(default_factory=set, description="Findings the text states that the impression leaves out.")
    uncertain: set[str] = Field(default_factory=set, description="Target findings the text states only as possible (stated hedged).")
    probabilities: dict[str, float] = Field(default_factory=dict, description="Per finding considered, the planner's probability.")


def with_corrections(plan: Plan, corrections: dict[str, str | None]) -> Plan:
    """The plan after a clinician's corrections of the case's own labels (finding -> state, None: not stated).

    A correction is the case's truth where it disagrees with the text's reading: a finding
    corrected to present is stated (hedged when corrected to uncertain), one corrected to absent
    or not stated is not, whatever the planner read. ``no_finding`` follows from the rest.
    """
    target, inferred, uncertain, left_out = set(plan.target), set(plan.inferred), set(plan.uncertain), set(plan.left_out)
    stated = (plan.target - plan.inferred) | plan.left_out  # what the findings text states
    for finding, state in corrections.items():
        if finding not in _ABNORMAL:
            continue
        inferred.discard(finding)
        if state in ("present", "uncertain"):
            target.add(finding)
            left_out.discard(finding)
            (uncertain.add if state == "uncertain" else uncertain.discard)(finding)
        else:
            if finding in stated:
                left_out.add(finding)
            target.discard(finding)
            uncertain.discard(finding)
    return plan.model_copy(update={"target": target, "inferred": inferred, "uncertain": uncertain, "left_out": left_out})


class _Reading(BaseModel):
    """A findings text as the planner reads it: positive findings, their sentences, and all positive sentences."""

    positives: dict[str, str]  # finding -> present | uncertain (strongest)
    sentences: dict[str, list[str]]  # finding -> sentences stating it
    positive_text: list[str]


def read_findings(text: str) -> _Reading:
    """The labeler's reading of a findings text, grouped as the planner's features need it."""
    from lakehouse.labeler.rules import find_mentions

    sentences, found = find_mentions(text)
    positives: dict[str, str] = {}
    by_finding: dict[str, list[str]] = {}
    for m in found:
        if m.state == "absent" or m.finding == "no_finding":
            continue
        if positives.get(m.finding) != "present":
            positives[m.finding] = m.state
        by_finding.setdefault(m.finding, []).append(sentences[m.sentence])
    positive_text = sorted({sentences[m.sentence] for m in found if m.state != "absent"})
    return _Reading(positives=positives, sentences=by_finding, positive_text=positive_text)


def restate_features(reading: _Reading, finding: str) -> set[str]:
    """Features of 'the impression restates ``finding``' (the text states it)."""
    feats = {"w:" + g for s in reading.sentences.get(finding, []) for g in ngrams(s)}
    if reading.positives.get(finding) != "present":
        feats.add("uncertain only")
    feats.add(f"states {min(len(reading.positives), 4)}")
    return feats


def infer_features(reading: _Reading) -> set[str]:
    """Features of 'the impression adds a finding' (the text does not state it)."""
    return {"states " + f for f in reading.positives} | {"w:" + g for s in reading.positive_text for g in ngrams(s)}


def _fit_logistic(examples: Sequence[tuple[set[str], bool]]) -> FindingModel:
    """L2 logistic regression by L-BFGS (float64, deterministic), features kept when seen MIN_COUNT times."""
    import torch

    counts = Counter(x for feats, _ in examples for x in feats)
    vocab = sorted(x for x, c in counts.items() if c >= MIN_COUNT)
    index = {x: i for i, x in enumerate(vocab)}
    cells = sorted({(r, index[x]) for r, (feats, _) in enumerate(examples) for x in feats if x in index})
    at = torch.tensor(cells, dtype=torch.long).reshape(-1, 2).T
    # Sparse: a row holds a few dozen of the ~1,000 n-grams, and dense products dominated the fit.
    rows = torch.sparse_coo_tensor(at, torch.ones(at.shape[1], dtype=torch.float64), (len(examples), len(vocab)), check_invariants=True).coalesce()
    y = torch.tensor([float(t) for _, t in examples], dtype=torch.float64)
    w = torch.zeros(len(vocab), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=200, tolerance_grad=1e-7, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        logits = torch.sparse.mm(rows, w.unsqueeze(1)).squeeze(1) + b
        value = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum") + 0.5 * L2 * (w * w).sum()
        value.backward()  # type: ignore[no-untyped-call]
        return value

    optimiser.step(loss)  # type: ignore[no-untyped-call]
    weights = {x: round(float(v), 6) for x, v in zip(vocab, w.detach().tolist(), strict=True) if abs(v) > 1e-6}
    return FindingModel(weights=weights, bias=round(float(b.item()), 6), examples=len(examples), rate=round(float(y.mean().item()), 4) if len(y) else 0.0)


def _fittable(examples: Sequence[tuple[set[str], bool]]) -> bool:
    yes = sum(1 for _, t in examples if t)
    return len(examples) >= MIN_EXAMPLES and min(yes, len(examples) - yes) >= MIN_CLASS


def _out_of_fold(examples: Sequence[tuple[set[str], bool]], default: float) -> list[float]:
    """Probability of each example from a model fitted on the other folds (folds by position: deterministic).

    A fold whose training part cannot be fitted scores its examples at ``default`` (the decision
    the planner makes without a model), so no held-out label leaks into the threshold choice.
    """
    out = [0.0] * len(examples)
    for fold in range(FOLDS):
        train = [e for i, e in enumerate(examples) if i % FOLDS != fold]
        held = [i for i in range(len(examples)) if i % FOLDS == fold]
        model = _fit_logistic(train) if _fittable(train) else None
        for i in held:
            out[i] = model.probability(examples[i][0]) if model else default
    return out


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


class ImpressionPlanner(BaseModel):
    """The fitted planner: per-finding restate and infer models, and the corpus's IDF table."""

    version: str = PLANNER_VERSION
    labeler: str
    reports: int = Field(description="Training reports (train split, findings and impression).")
    corpus: str = Field(description="Digest of the training reports (which reports, which texts).")
    restate: dict[str, FindingModel] = Field(default_factory=dict)
    infer: dict[str, FindingModel] = Field(default_factory=dict)
    idf: dict[str, float] = Field(default_factory=dict, description="Inverse document frequency of findings n-grams (df >= 2).")

    def plan(self, findings: str) -> Plan:
        """The findings the impression of this findings text should state."""
        reading = read_findings(findings)
        target, inferred, probabilities = set(), set(), {}
        for f in reading.positives:
            model = self.restate.get(f)
            p = model.probability(restate_features(reading, f)) if model else 1.0
            probabilities[f] = round(p, 4)
            if model is None or p >= model.threshold:
                target.add(f)
        if self.infer:
            feats = infer_features(reading)
            for f, model in self.infer.items():
                if f in reading.positives:
                    continue
                p = model.probability(feats)
                if p >= model.threshold:
                    probabilities[f] = round(p, 4)
                    target.add(f)
                    inferred.add(f)
        uncertain = {f for f in target if reading.positives.get(f) == "uncertain"}
        return Plan(target=target, inferred=inferred, left_out=set(reading.positives) - target, uncertain=uncertain, probabilities=probabilities)

    def vector(self, text: str) -> dict[str, float]:
        """Unit TF-IDF vector of a findings text over the planner's n-grams (unknown n-grams ignored)."""
        counts = Counter(g for g in ngrams(text) if g in self.idf)
        vec = {g: (1.0 + math.log(c)) * self.idf[g] for g, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {g: v / norm for g, v in vec.items()}


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    """Dot product of two unit sparse vectors."""
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(g, 0.0) for g, v in a.items())


def corpus_digest(reports: Sequence[tuple[str, str, str]], corrections: Mapping[str, Mapping[str, str | None]] | None = None) -> str:
    """Digest of (case id, findings, impression) triples and the clinicians' corrections, order-independent."""
    h = hashlib.sha256()
    for case_id, findings, impression in sorted(reports):
        h.update(f"{case_id}\x1f{findings}\x1f{impression}\x1e".encode())
    for case_id, held in sorted((corrections or {}).items()):
        h.update((f"{case_id}\x1d" + "".join(f"{f}={held[f]}\x1f" for f in sorted(held)) + "\x1e").encode())
    return h.hexdigest()[:16]


def fit_planner(reports: Sequence[tuple[str, str, str]], progress: Callable[[int, int], None] | None = None,
                corrections: Mapping[str, Mapping[str, str | None]] | None = None) -> ImpressionPlanner:
    """Fit the planner on (case id, findings, impression) train-split reports (module docstring).

    Args:
        reports: Training reports; cases without findings or impression are skipped.
        progress: Called with (findings done, findings in all) as the per-finding models finish.
        corrections: Case id -> finding -> state a clinician set (feedback): the case's truth where
            it disagrees with the labeler's reading of its impression, so the planner learns from the
            corrected labels (a finding corrected to present or uncertain counts as stated, one
            corrected to absent or not stated as not stated).
    """
    from lakehouse.labeler import LABELER_NAME

    usable = sorted((i, f, m) for i, f, m in reports if f.strip() and m.strip())
    readings = [read_findings(f) for _, f, _ in usable]
    stated = [_corrected(abnormal_positives(m), (corrections or {}).get(i)) for i, _, m in usable]
    documents = Counter(g for _, f, _ in usable for g in set(ngrams(f)))
    n = len(usable)
    idf = {g: round(math.log((1 + n) / (1 + c)) + 1, 5) for g, c in documents.items() if c >= 2}
    planner = ImpressionPlanner(labeler=LABELER_NAME, reports=n, corpus=corpus_digest(usable, corrections), idf=idf)
    for done, f in enumerate(_ABNORMAL, 1):
        restate = [(restate_features(r, f), f in s) for r, s in zip(readings, stated, strict=True) if f in r.positives]
        infer = [(infer_features(r), f in s) for r, s in zip(readings, stated, strict=True) if f not in r.positives]
        fit_restate, fit_infer = _fittable(restate), sum(1 for _, t in infer if t) >= INFER_MIN and _fittable(infer)
        p_restate = _out_of_fold(restate, 1.0) if fit_restate else [1.0] * len(restate)
        p_infer = _out_of_fold(infer, 0.0) if fit_infer else [0.0] * len(infer)
        best = max((_joint_f1(restate, p_restate, t_r, infer, p_infer, t_i), -t_r, t_i, t_r) for t_r in RESTATE_GRID
                    for t_i in (INFER_GRID if fit_infer else (1.01,)))
        cv, t_r, t_i = best[0], best[3], best[2]
        if fit_restate:
            planner.restate[f] = _fit_logistic(restate).model_copy(update={"threshold": t_r, "cv_f1": round(cv, 4)})
        if fit_infer and t_i <= 1.0:
            planner.infer[f] = _fit_logistic(infer).model_copy(update={"threshold": t_i, "cv_f1": round(cv, 4)})
        if progress is not None:
            progress(done, len(_ABNORMAL))
    return planner


def _corrected(stated: set[str], held: Mapping[str, str | None] | None) -> set[str]:
    """The findings an impression states, once the case's corrected labels (``held``) overrule the labeler's reading."""
    out = set(stated)
    for finding, state in (held or {}).items():
        if finding in _ABNORMAL:
            (out.add if state in ("present", "uncertain") else out.discard)(finding)
    return out


def _joint_f1(restate: Sequence[tuple[set[str], bool]], p_restate: Sequence[float], t_r: float,
              infer: Sequence[tuple[set[str], bool]], p_infer: Sequence[float], t_i: float) -> float:
    """F1 of one finding over all training reports when restating at ``t_r`` and inferring at ``t_i``.

    Ties prefer restating everything and inferring nothing (the caller's sort order).
    """
    tp = fp = fn = 0
    for (_, truth), p in zip(restate, p_restate, strict=True):
        said = p >= t_r
        tp, fp, fn = tp + (said and truth), fp + (said and not truth), fn + (truth and not said)
    for (_, truth), p in zip(infer, p_infer, strict=True):
        said = p >= t_i
        tp, fp, fn = tp + (said and truth), fp + (said and not truth), fn + (truth and not said)
    return _f1(tp, fp, fn)


def planner_from_store(store: Any, models_dir: Path | None, base_filter: Any = None, progress: Callable[[int, int], None] | None = None) -> ImpressionPlanner:
    """The planner of the store's train-split reports (within ``base_filter``), fitted once per corpus and set of corrections.

    It learns from the labels as clinicians left them: a finding a feedback event holds (the
    payload's ``label_events``) counts with its corrected state (:func:`fit_planner`). A correction
    therefore changes the digest, and the next report refits the planner (about 6 s on an idle
    2-core machine for the shipped corpus): the data-model co-evolution of the feedback loop reaches which findings
    drafts state, not only which prior cases they are edited from.

    The fitted planner is saved under ``models_dir/impression-planner/<digest>.json``, so a re-run
    on the same reports and corrections loads it instead of fitting again; ingest fits it ahead of
    the first report. Only the ``KEEP_PLANNERS`` most recent files are kept. ``models_dir=None``
    fits in memory only.
    """
    from lakehouse.semantic import SearchFilter

    scope = (base_filter or SearchFilter()).model_copy(update={"split": "train"})
    points = [p for p in store.scroll(scope, limit=1_000_000) if (p.payload.get("findings") or "").strip() and (p.payload.get("impression") or "").strip()]
    reports = sorted((p.case_id, p.payload["findings"], p.payload["impression"]) for p in points)
    corrections = {p.case_id: {f: (p.payload.get("labels") or {}).get(f) for f in p.payload["label_events"]} for p in points if p.payload.get("label_events")}
    path = models_dir / "impression-planner" / f"{corpus_digest(reports, corrections)}.json" if models_dir is not None else None
    if path is not None and path.exists():
        found = ImpressionPlanner.model_validate_json(path.read_text())
        if found.version == PLANNER_VERSION:
            return found
    planner = fit_planner(reports, progress, corrections)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_text(planner.model_dump_json())
        partial.replace(path)  # atomic: a killed fit never leaves half a planner
        for old in sorted(path.parent.glob("*.json"), key=lambda f: f.stat().st_mtime, reverse=True)[KEEP_PLANNERS:]:
            old.unlink(missing_ok=True)  # each correction fits a new one (about 0.3 MB)
    return planner


def planner_for(resources: Any, base_filter: Any = None, progress: Callable[[int, int], None] | None = None) -> ImpressionPlanner:
    """The installation's planner (train split within ``base_filter``), held by ``resources`` once loaded.

    An ingest or a label correction through these resources drops it
    (``resources.drop("impression_planner")``); the next use loads or fits the planner of the new
    labels. A process that did not make the change keeps its planner until it restarts.
    """
    key = "impression_planner:" + (base_filter.model_dump_json() if base_filter is not None else "train")
    return resources.derived(key, lambda: planner_from_store(resources.store, resources.settings.models_dir, base_filter, progress))  # type: ignore[no-any-return]
