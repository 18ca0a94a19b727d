"""The feedback evaluation's tuning of the propagation threshold and candidate cap, on a real small lakehouse (train split only)."""

from __future__ import annotations

from core.settings import Settings
from evals.feedback import tune_threshold


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
