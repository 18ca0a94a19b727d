"""``sagehealth demo``: one report run end to end on a test-split case of the ingested lakehouse.

Picks a test case with at least one positive finding, drafts its impression with retrieval
(the case itself is never retrieved), and prints the draft, the evidence with similarities,
the policy decisions and the run's trace tree. Run ``sagehealth ingest`` first (``make demo``).
Examples::

    sagehealth demo
    sagehealth demo --adapter impression-lora --json
"""

from __future__ import annotations

import typer

from app.common import JsonOpt, RoleOpt, UserOpt, console, emit, fail, open_resources, who
from core.errors import SageError

PICK_CASE_SQL = (
    "SELECT r.report_id, r.findings, r.indication, r.impression FROM reports r "
    "WHERE r.split = 'test' AND length(r.findings) > 20 AND EXISTS (SELECT 1 FROM report_labels l "
    "WHERE l.report_id = r.report_id AND l.state = 'present' AND l.finding <> 'no_finding') ORDER BY r.report_id LIMIT 1"
)


def register(app: typer.Typer) -> None:
    """Add ``demo``."""

    @app.command("demo")
    def demo_cmd(
        user: str | None = UserOpt,
        role: str | None = RoleOpt,
        max_new_tokens: int = typer.Option(64, "--max-new-tokens", min=8, max=512, help="Generation budget."),
        adapter: str | None = typer.Option(None, "--adapter", help="LoRA adapter for the report model (default: SAGE_ADAPTER, else the base model)."),
        as_json: bool = JsonOpt,
    ) -> None:
        """Draft the impression of one test case, then show evidence, decisions and the trace."""
        from app.commands.run import render_result
        from app.tracetree import build_tree, render_tree
        from services.data import QueryRequest, query
        from services.runs import RunRequest, run_task, trace

        resources = open_resources()
        person = who(resources, user, role, "treatment")
        try:
            # Picking the case is a data access like any other: the caller's policy and the audit log apply.
            rows = query(resources, person, QueryRequest(sql=PICK_CASE_SQL, max_rows=1)).rows
            if not rows:
                raise SageError("no test-split case with a positive finding in the lakehouse", hint="run `sagehealth ingest` first")
            case = rows[0]
            task_input = {"findings": case["findings"], "indication": case.get("indication") or "", "case_id": case["report_id"], "max_new_tokens": max_new_tokens}
            result = run_task(resources, person, RunRequest(task="report", input=task_input, adapter=adapter or resources.settings.adapter))
        except SageError as exc:
            fail(exc, as_json)
            return
        finally:
            resources.close()
        if as_json:
            emit({"case_id": case["report_id"], "result": result.model_dump(mode="json")}, True)
            return
        console.rule(f"[bold]case {case['report_id']}[/] (test split)")
        console.print(f"[bold]findings:[/] {case['findings']}")
        render_result(result)
        output = result.output or {}
        drafter = "retrieve-then-edit: the case's own findings sentences, phrased after label-matched prior cases (no model call)" if output.get("mode") == "rag" else f"model {output.get('model') or '-'}"
        console.print(f"[bold]drafted by:[/] {drafter}; " + (f"adapter {output['adapter']} USED" if output.get("adapter") else "no adapter used"))
        plan = result.evidence.get("edit") or {}
        if plan:  # the impression planner's decision, so a reader sees why a finding is (not) stated
            said = [f"states {', '.join(plan.get('target') or ['no_finding'])}"]
            said += [f"inferred (stated hedged): {', '.join(plan['inferred'])}"] if plan.get("inferred") else []
            said += [f"left out: {', '.join(plan['left_out'])}"] if plan.get("left_out") else []
            console.print("[bold]impression plan:[/] " + "; ".join(said))
        console.print(f"[bold]radiologist's impression (reference, never shown to the model):[/] {case.get('impression') or '-'}")
        for hit in result.evidence.get("hits", []):
            console.print(f"  evidence {hit['case_id']}: similarity {hit['similarity']:.2f}  positives {', '.join(hit['positive_findings']) or 'none'}")
        console.rule("[bold]trace[/]")
        console.print(render_tree(result.run_id, build_tree(trace(resources, person, result.run_id))))
