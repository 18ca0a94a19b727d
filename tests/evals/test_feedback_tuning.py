"""The feedback evaluation's tuning of the propagation threshold and candidate cap, on a real small lakehouse (train split only)."""

from __future__ import annotations

from core.settings import Settings
from evals.feedback_tuning import tune_threshold


def test_tuning_picks_a_cap_that_cuts_nothing_the_threshold_admits(small_lakehouse: Settings) -> None:
    caps = (2, 10, 100_000)
    result = tune_threshold(small_lakehouse, corrections=20, grid=(0.5, 0.7), caps=caps, out_path=None)
    assert result["split"] == "train" and result["chosen_threshold"] in (0.5, 0.7)
    rows = {(r["threshold"], r["max_candidates"]): r for r in result["rows"]}
    assert len(rows) == 2 * len(caps)
    t, cap = result["chosen_threshold"], result["chosen_max_candidates"]
    assert rows[(t, cap)]["proposals"] == rows[(t, max(caps))]["proposals"]  # the cap drops nothing the threshold admits
    assert all(rows[(t, c)]["proposals"] < rows[(t, cap)]["proposals"] for c in caps if c < cap)  # and is the smallest such cap
    for threshold in (0.5, 0.7):  # a tighter cap or a higher threshold never proposes or finds more
        counts = [rows[(threshold, c)]["proposals"] for c in caps]
        recalls = [rows[(threshold, c)]["recall"] or 0.0 for c in caps]
        assert counts == sorted(counts) and recalls == sorted(recalls)
    assert rows[(0.7, max(caps))]["proposals"] <= rows[(0.5, max(caps))]["proposals"]
    assert result["same_error_cases"] > 0 and (rows[(t, cap)]["recall"] or 0.0) > 0


def test_co_evolution_eval_runs_its_arms_end_to_end(small_lakehouse: Settings, tmp_path) -> None:  # noqa: ANN001
    from evals.feedback import evaluate_feedback

    out = tmp_path / "feedback.json"
    result = evaluate_feedback(small_lakehouse, cycles=2, runs_per_cycle=5, noise=0.3, n_test=20, threshold=0.5, max_candidates=1000, bootstrap_rounds=50,
                               arms=("static", "full"), out_path=out)
    static, full = result.arms["static"], result.arms["full"]
    assert [r.cycle for r in static] == [0, 1, 2] == [r.cycle for r in full]
    assert static[0].label_accuracy == full[0].label_accuracy < 1.0  # the same noise in both arms
    assert {r.label_accuracy for r in static} == {static[0].label_accuracy} and static[-1].proposals_applied == 0
    assert sum(r.corrections for r in full) > 0 and full[-1].label_accuracy > full[0].label_accuracy  # feedback repairs labels
    assert full[-1].propagation_precision is None or full[-1].propagation_precision >= 0.9
    low, high = result.final_full_minus_static_ci
    assert low <= result.final_full_minus_static <= high and out.exists()
