"""``sagehealth run TASK --input JSON`` (one traced graph run), ``resume`` and ``sagehealth plan "TEXT"``.

Examples::

    sagehealth run report --input '{"findings": "Heart size is enlarged. Small left effusion."}' --role clinician
    sagehealth run interactions --input @request.json --json
    sagehealth resume run-db0665623af1      # a run a crash interrupted, from its last checkpoint
    sagehealth plan "which drugs interact with warfarin?" --json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, console, emit, fail, open_resources, who
from core.errors import SageError


class InputError(SageError):
    """The --input value is neither JSON nor a readable @file."""


def parse_input(raw: str) -> dict[str, Any]:
    """``--input`` as a dict: inline JSON, or ``@path`` to a JSON file."""
    text = raw
    if raw.startswith("@"):
        path = Path(raw[1:])
        if not path.is_file():
            raise InputError(f"input file {path} does not exist", hint="pass --input @path/to/request.json or inline JSON")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"input file {path} is not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8") from None
        except OSError as exc:
            raise InputError(f"cannot read input file {path}: {exc.strerror}", hint="check the path and its permissions") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--input is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", hint='e.g. --input \'{"findings": "..."}\'') from None
    if not isinstance(value, dict):
        raise InputError("--input must be a JSON object", hint='e.g. --input \'{"findings": "..."}\'')
    return value


def render_result(result: Any) -> None:
    """Human view of a RunResult: status, plan, evidence, decisions, output."""
    color = {"done": "green", "review": "yellow", "failed": "red", "denied": "red"}.get(result.status, "white")
    console.print(f"[bold]run[/] {result.run_id}  [bold]thread[/] {result.thread_id}  [bold]task[/] {result.task}  [{color}]{result.status}[/]")
    if result.route_reason:
        console.print(f"[dim]route: {result.route_reason}[/]")
    if result.plan:
        console.print("[bold]plan:[/] " + " -> ".join(f"{s['agent']}({', '.join(s['tools'])})" for s in result.plan))
    if result.evidence_ids:
        console.print(f"[bold]evidence:[/] {', '.join(result.evidence_ids)}")
    if result.policy_decisions:
        table = Table("stage", "effect", "reason", title="policy decisions", title_justify="left")
        for d in result.policy_decisions:
            table.add_row(str(d.get("stage")), str(d.get("effect")), str(d.get("reason")))
        console.print(table)
    if result.review:
        console.print(f"[yellow]waiting for review:[/] {'; '.join(result.review.get('reasons', []))}  (sagehealth review show {result.thread_id})")
    if result.error:
        console.print(f"[red]error:[/] {result.error.get('message')}" + (f"  [yellow]hint:[/] {result.error['hint']}" if result.error.get("hint") else ""))
    if result.output is not None:
        console.print_json(json.dumps(result.output, default=str))
    feedback = getattr(result, "feedback", None)
    if feedback:  # a reviewer's edit of a report draft corrected the case's labels
        changed = ", ".join(f"{f}={s}" for f, s in sorted((feedback.get("labels") or {}).items())) if feedback.get("status") == "applied" else "; ".join(feedback.get("reasons") or [])
        console.print(f"[bold]label correction[/] {feedback.get('event_id', '')} on {feedback.get('case_id')}: {feedback.get('status')}  {changed}")


def _run_and_show(call: Any, person: tuple[str | None, str | None, str], as_json: bool) -> None:
    """Call a run service as the command's caller, print the result; exit 2 when the run failed or was denied."""
    resources = open_resources()
    try:
        result = call(resources, who(resources, *person))
    except SageError as exc:
        fail(exc, as_json)
        return
    finally:
        resources.close()  # hand the shard lease back at once
    emit(result, as_json, render_result)
    if result.status in ("failed", "denied"):
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add ``run``, ``resume`` and ``plan``."""

    @app.command("run")
    def run_cmd(
        task: str = typer.Argument(..., help="Task name: report, differential, cohort, interactions."),
        input: str = typer.Option(..., "--input", help="Task input as JSON, or @file.json."),
        user: str | None = UserOpt,
        role: str | None = RoleOpt,
        purpose: str = PurposeOpt,
        thread: str | None = typer.Option(None, "--thread", help="Thread id (retry a failed run on its thread)."),
        model: str | None = typer.Option(None, "--model", help="Zoo chat model (default: SAGE_CHAT_MODEL)."),
        adapter: str | None = typer.Option(None, "--adapter", help="LoRA adapter (default: SAGE_ADAPTER)."),
        max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", min=1, max=1024, help="Generation budget."),
        as_json: bool = JsonOpt,
    ) -> None:
        """Run one clinical task through the governed agent graph; prints run id, plan, evidence, decisions."""
        from services.runs import RunRequest, run_task

        _run_and_show(lambda resources, caller: run_task(resources, caller, RunRequest(
            task=task, input=parse_input(input), thread_id=thread, model=model, adapter=adapter, max_new_tokens=max_new_tokens)), (user, role, purpose), as_json)

    @app.command("resume")
    def resume_cmd(
        thread: str = typer.Argument(..., help="Thread of a run a crash interrupted."),
        user: str | None = UserOpt,
        role: str | None = RoleOpt,
        purpose: str = PurposeOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Continue a run that a crash interrupted, from its last checkpoint (its own caller, or a reviewer)."""
        from services.runs import resume

        _run_and_show(lambda resources, caller: resume(resources, caller, thread), (user, role, purpose), as_json)

    @app.command("plan")
    def plan_cmd(
        text: str = typer.Argument(..., help="The request in plain words."),
        role: str | None = RoleOpt,
        purpose: str = PurposeOpt,
        llm: bool = typer.Option(False, "--llm", help="Let the chat model propose the plan (validated and repaired)."),
        as_json: bool = JsonOpt,
    ) -> None:
        """Show the planner's decision (task, route, tools, reason) without executing anything."""
        from services.runs import PlanRequest
        from services.runs import plan as plan_service

        resources = open_resources()
        try:
            decision = plan_service(resources, who(resources, None, role, purpose), PlanRequest(text=text, routing="llm" if llm else "embedding"))
        except SageError as exc:
            fail(exc, as_json)
            return

        def render(d: dict[str, Any]) -> None:
            confidence = f"  [bold]confidence:[/] {d['confidence']}" if d.get("confidence") is not None else ""
            console.print(f"[bold]task:[/] {d['task']}  [bold]route:[/] {d['route']}{confidence}")
            console.print(f"[bold]reason:[/] {d['reason']}")
            for number, p in enumerate(d["plans"], 1):
                prefix = f"step {number} ({p['task']}): " if len(d["plans"]) > 1 else ""
                console.print(f"[bold]{prefix or 'steps: '}[/]" + " -> ".join(f"{s['agent']}({', '.join(s['tools'])})" for s in p["steps"]))
            for repair in d["repairs"]:
                console.print(f"[yellow]repaired:[/] {repair}")

        emit(decision, as_json, render)
