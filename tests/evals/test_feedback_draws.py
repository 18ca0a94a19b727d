"""The summary over noise draws: each draw as its run reported it, and the mean with a t-interval computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.feedback_draws import markdown, summarize

CONFIG = {"cycles": 5, "runs_per_cycle": 20, "noise": 0.3, "findings": ["edema"], "n_test": 10, "k": 3, "threshold": 0.4,
          "max_candidates": 3000, "bootstrap_rounds": 100, "draft_mode": "rag"}


def _result(tmp_path: Path, seed: int, static: float, full: float, ci: tuple[float, float], **config: object) -> Path:
    data = {"config": {**CONFIG, **config, "seed": seed}, "final_full_minus_static": round(full - static, 4), "final_full_minus_static_ci": list(ci),
            "arms": {"static": [{"macro_f1": 0.5}, {"macro_f1": static}], "full": [{"macro_f1": 0.5}, {"macro_f1": full}]}}
    path = tmp_path / f"seed{seed}.json"
    path.write_text(json.dumps(data))
    return path


def test_three_draws_give_their_mean_and_a_t_interval(tmp_path: Path) -> None:
    files = [_result(tmp_path, 0, 0.60, 0.63, (0.01, 0.05)), _result(tmp_path, 2, 0.60, 0.61, (0.0, 0.02)), _result(tmp_path, 3, 0.62, 0.62, (-0.01, 0.01))]
    result = summarize(files)
    assert [d.lift for d in result.draws] == [0.03, 0.01, 0.0] and [d.beyond_interval for d in result.draws] == [True, False, False]
    # mean 0.04/3 = 0.01333; sample sd of (0.03, 0.01, 0.0) = 0.015275; t(2) = 4.303; half width 4.303 * 0.015275 / sqrt(3) = 0.03795
    assert result.mean_lift == pytest.approx(0.0133, abs=1e-4)
    assert result.mean_lift_ci == pytest.approx((-0.0246, 0.0513), abs=1e-4)
    assert result.draws_beyond_interval == 1 and "| mean of 3 |" in markdown(result)


def test_draws_of_different_configurations_or_one_seed_twice_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="another configuration"):
        summarize([_result(tmp_path, 0, 0.6, 0.6, (0, 0)), _result(tmp_path, 1, 0.6, 0.6, (0, 0), noise=0.2)])
    copy = tmp_path / "again.json"
    copy.write_text(_result(tmp_path, 4, 0.6, 0.6, (0, 0)).read_text())
    with pytest.raises(SystemExit, match="same seed"):
        summarize([tmp_path / "seed4.json", copy])
