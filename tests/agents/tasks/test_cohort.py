from __future__ import annotations

import pytest

from agents.tasks.cohort import SPEC, CohortInput
from lakehouse.sql_guard import ForbiddenQueryError


def test_template_question_answers_with_rows_and_sql(direct) -> None:  # noqa: ANN001
    task = CohortInput(question="how many patients with heart failure are on furosemide")
    evidence = SPEC.retrieve(direct, task)
    assert SPEC.generate is not None and SPEC.generate(direct, task, evidence) is None  # no model needed
    answer = SPEC.compose(direct, task, evidence, None)
    assert answer.template == "patient_cohort" and answer.columns == ["patients"]
    assert answer.count > 0 and answer.answer.startswith(f"{answer.count} patients - ") and "I50%" in answer.sql and "SQL: " in answer.answer
    assert [name for name, _ in direct.calls] == ["query_records"]


def test_model_written_sql_is_guarded_before_it_runs(direct) -> None:  # noqa: ANN001
    task = CohortInput(question="what is the mean potassium")
    evidence = SPEC.retrieve(direct, task)
    assert evidence["plan"] is None and direct.calls == []
    answer = SPEC.compose(direct, task, evidence, {"sql": "SELECT round(avg(value), 2) AS mean_potassium FROM observations WHERE loinc_code = '2823-3'"})
    assert answer.template == "llm" and answer.rows[0]["mean_potassium"] > 0
    before = len(direct.calls)
    with pytest.raises(ForbiddenQueryError):
        SPEC.compose(direct, task, evidence, {"sql": "DELETE FROM medications"})
    assert len(direct.calls) == before  # refused before any query ran


def test_model_fallback_end_to_end_with_real_model(direct) -> None:  # noqa: ANN001
    task = CohortInput(question="which observation names exist", max_new_tokens=16)
    evidence = SPEC.retrieve(direct, task)
    drafts = SPEC.generate(direct, task, evidence)  # type: ignore[misc]
    assert drafts is not None and isinstance(drafts["sql"], str)
    assert direct.calls[-1][0] == "generate_text"
