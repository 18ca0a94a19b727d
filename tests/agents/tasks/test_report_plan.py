"""The impression planner: learned from reports read by the real labeler, fitted for real (no stubs)."""

from __future__ import annotations

from agents.tasks.report_plan import (
    PLANNER_VERSION,
    ImpressionPlanner,
    corpus_digest,
    cosine,
    fit_planner,
    planner_from_store,
)

NORMAL = ("Heart size normal. Lungs clear. No pleural effusion or pneumothorax.", "No acute cardiopulmonary abnormality.")


def _corpus() -> list[tuple[str, str, str]]:
    """Reports where radiologists leave healed fractures out, state acute ones, and call basilar opacity pneumonia."""
    reports = []
    for i in range(40):
        reports.append((f"OLD{i}", f"Healed right rib fracture deformity number {i % 7}. Lungs clear.", "No acute cardiopulmonary abnormality."))
        reports.append((f"NEW{i}", f"Acute displaced left rib fracture number {i % 5}. Lungs clear.", "Acute left rib fracture."))
        reports.append((f"OPA{i}", f"Focal airspace opacity in the right lung base, case {i % 3}. Heart normal.", "Right lower lobe pneumonia."))
        reports.append((f"NRM{i}", *NORMAL))
    return reports


def test_planner_learns_what_impressions_restate_and_add() -> None:
    planner = fit_planner(_corpus())
    assert planner.version == PLANNER_VERSION and planner.reports == 160
    old = planner.plan("Healed right rib fracture deformity. Lungs clear.")
    assert old.target == set() and old.left_out == {"fracture"} and old.probabilities["fracture"] < 0.5
    acute = planner.plan("Acute displaced left rib fracture. Lungs clear.")
    assert acute.target == {"fracture"} and not acute.inferred
    opacity = planner.plan("Focal airspace opacity in the right lung base. Heart normal.")
    # Opacity is never restated here, but with no restated example there is nothing to fit: kept (the default).
    assert opacity.inferred == {"pneumonia"} and opacity.target == {"lung_opacity", "pneumonia"}
    assert planner.plan(NORMAL[0]).target == set()
    assert planner.infer["pneumonia"].cv_f1 is not None and planner.infer["pneumonia"].cv_f1 > 0.9


def test_too_few_examples_keep_the_safe_default() -> None:
    planner = fit_planner(_corpus()[:8])  # 2 reports per kind: nothing can be fitted
    assert planner.restate == {} and planner.infer == {}
    plan = planner.plan("Healed right rib fracture deformity. Focal airspace opacity.")
    assert plan.target == {"fracture", "lung_opacity"} and not plan.inferred and not plan.left_out


def test_fit_is_deterministic_and_json_round_trips() -> None:
    a, b = fit_planner(_corpus()), fit_planner(list(reversed(_corpus())))
    assert a == b and a.corpus == corpus_digest(_corpus())
    assert ImpressionPlanner.model_validate_json(a.model_dump_json()) == a


def test_clinicians_corrections_are_learned_and_change_the_digest() -> None:
    corpus = _corpus()
    plain = fit_planner(corpus)
    assert fit_planner(corpus, corrections={}) == plain and plain.corpus == corpus_digest(corpus)
    healed, acute = "Healed right rib fracture deformity. Lungs clear.", "Acute displaced left rib fracture. Lungs clear."
    # Clinicians hold that most healed fractures belong in the impression: the planner now restates them.
    taught = fit_planner(corpus, corrections={f"OLD{i}": {"fracture": "present"} for i in range(30)})
    assert taught.corpus != plain.corpus and plain.plan(healed).target == set() and taught.plan(healed).target == {"fracture"}
    # ... or that most acute ones do not (corrected to not stated): it is less sure of restating those.
    untaught = fit_planner(corpus, corrections={f"NEW{i}": {"fracture": None} for i in range(30)})
    assert untaught.plan(acute).probabilities["fracture"] < plain.plan(acute).probabilities["fracture"] - 0.3


def test_lexical_vectors_find_the_same_template() -> None:
    planner = fit_planner(_corpus())
    query = planner.vector("Healed right rib fracture deformity. Lungs clear.")
    assert cosine(query, planner.vector(_corpus()[0][1])) > cosine(query, planner.vector(_corpus()[1][1]))
    assert abs(cosine(query, query) - 1.0) < 1e-9


def test_planner_from_store_is_saved_once_per_corpus(small_lakehouse, tmp_path) -> None:  # noqa: ANN001
    from lakehouse.semantic import SearchFilter, open_store

    store = open_store(small_lakehouse)
    first = planner_from_store(store, tmp_path)
    saved = list((tmp_path / "impression-planner").glob("*.json"))
    assert len(saved) == 1 and saved[0].stem == first.corpus and first.reports > 50
    assert planner_from_store(store, tmp_path) == first  # loaded, not refitted
    held_out = [p.case_id for p in store.scroll(SearchFilter(split="train"), limit=10)]
    other = planner_from_store(store, None, SearchFilter(exclude_ids=held_out))  # in memory, without those cases
    assert other.corpus != first.corpus and other.reports < first.reports
    assert len(list((tmp_path / "impression-planner").glob("*.json"))) == 1


def test_a_fold_that_cannot_be_fitted_never_scores_with_the_truth() -> None:
    from agents.tasks.report_plan import _out_of_fold

    examples = [({f"w:{i % 4}"}, i % 5 == 0) for i in range(20)]  # every fold trains on 16 < MIN_EXAMPLES
    assert _out_of_fold(examples, 1.0) == [1.0] * 20 and _out_of_fold(examples, 0.0) == [0.0] * 20
