"""Task "cohort": answer a cohort or record question with rows from the raw tier, showing the SQL.

The data agent plans the query by template (:func:`lakehouse.cohort.plan_cohort_query`) and runs
it through the governed ``query_records`` tool (guard + the caller's table/column scope). A
question no template covers goes to the model agent, which writes SQL from the schema prompt;
the task agent then guards and runs that SQL the same way, so model-written SQL never reaches
DuckDB unchecked.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents.tasks.base import TaskContext, TaskSpec, register_task
from agents.tasks.evidence import call
from agents.tasks.prompts import cohort_sql_messages, extract_sql
from lakehouse.cohort import CohortPlanError, plan_cohort_query
from tools.generation import GeneratedText
from tools.records import Rows


class CohortInput(BaseModel):
    """A cohort or record question."""

    question: str = Field(min_length=3, max_length=1000, description="Plain-English question, e.g. 'patients over 65 with cardiomegaly on furosemide'.")
    max_new_tokens: int = Field(160, ge=16, le=512, description="Budget for model-written SQL (questions no template covers).")


class CohortAnswer(BaseModel):
    """Rows answering the question, with the SQL that produced them."""

    question: str
    answer: str = Field(description="How many rows (or the count asked for) and what was asked, a table of the first rows, and the SQL.")
    count: int
    columns: list[str]
    rows: list[dict[str, Any]]
    sql: str
    template: str
    explanation: str


FIRST_ROWS = 10  # rows shown in the answer text; all rows stay in ``rows``


def rows_table(columns: list[str], rows: list[dict[str, Any]], limit: int = FIRST_ROWS) -> str:
    """The first rows as a Markdown table, with a line saying how many more there are."""
    if not rows:
        return "(no rows)"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, ""))[:40] for c in columns) + " |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more row(s)")
    return "\n".join(lines)


def _run(ctx: TaskContext, sql: str) -> dict[str, Any]:
    result = call(ctx, "query_records", {"sql": sql}, Rows)
    return {"columns": result.columns, "rows": result.rows, "sql": result.sql}


def retrieve(ctx: TaskContext, task: BaseModel) -> dict[str, Any]:
    """Plan by template and run it; without a template, leave the SQL to the model agent."""
    assert isinstance(task, CohortInput)
    try:
        plan = plan_cohort_query(task.question, scope=getattr(ctx, "scope", None))  # SQL written for the caller's catalog
    except CohortPlanError:
        return {"ids": [], "plan": None}
    return {"ids": [], "plan": plan.model_dump(), "result": _run(ctx, plan.sql)}


def generate(ctx: TaskContext, task: BaseModel, evidence: dict[str, Any]) -> dict[str, Any] | None:
    """Model-written SQL for a question no template covers."""
    assert isinstance(task, CohortInput)
    if evidence.get("plan") is not None:
        return None
    text = call(ctx, "generate_text", {"messages": cohort_sql_messages(task.question), "max_new_tokens": task.max_new_tokens, "temperature": 0.0, "seed": 0}, GeneratedText).text
    return {"sql": extract_sql(text)}


def compose(ctx: TaskContext, task: BaseModel, evidence: dict[str, Any], drafts: dict[str, Any] | None) -> CohortAnswer:
    """Guard and run model SQL when needed, then summarise the rows."""
    assert isinstance(task, CohortInput)
    if evidence.get("plan") is not None:
        plan, result = evidence["plan"], evidence["result"]
    else:
        written = str((drafts or {}).get("sql", ""))
        plan = plan_cohort_query(task.question, write_sql=lambda _q: written, scope=getattr(ctx, "scope", None)).model_dump()
        result = _run(ctx, plan["sql"])
    rows = result["rows"]
    columns = result["columns"]
    if len(rows) == 1 and len(columns) == 1 and isinstance(rows[0].get(columns[0]), int):
        count = int(rows[0][columns[0]])
        answer = f"{count} {columns[0]} - {plan['explanation']}.\nSQL: {result['sql']}"
    else:
        count = len(rows)
        answer = f"{count} row(s) - {plan['explanation']}.\n{rows_table(columns, rows)}\nSQL: {result['sql']}"
    return CohortAnswer(question=task.question, answer=answer, count=count, columns=columns, rows=rows, sql=result["sql"], template=plan["template"], explanation=plan["explanation"])


SPEC = register_task(
    TaskSpec(
        name="cohort",
        description="Answer cohort and record questions (patients by age, sex, finding, condition, drug; counts; a patient's medications) with SQL over the records.",
        input_model=CohortInput,
        output_model=CohortAnswer,
        retrieve=retrieve,
        generate=generate,
        compose=compose,
        tools=("query_records", "generate_text"),
        examples=("how many patients over 65 have cardiomegaly", "patients with heart failure on furosemide", "list the medications of patient P12", "count reports by finding"),
    )
)
