"""``sagehealth chat`` without ``--message``: a REPL whose slash commands never reach the agents."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from app.commands import chat
from core.settings import Settings
from graphs.telemetry import run_spans


def test_the_repl_streams_turns_and_answers_trace_thread_and_help_itself(home: Settings) -> None:
    app = typer.Typer()
    chat.register(app)
    app.command("noop")(lambda: None)
    lines = ["/trace", "how many patients have edema?", "/trace", "/thread t-other", "/thread", "/bogus", "/help", "/exit", "never sent"]
    result = CliRunner().invoke(app, ["chat", "--thread", "t-first", "--user", "dr-r", "--role", "clinician"], input="\n".join(lines) + "\n")
    out = result.stdout
    assert result.exit_code == 0, out
    assert "no turn on this thread in this session yet" in out  # /trace before any turn
    assert "task cohort" in out and "patients" in out
    run_id = out.split("· run ", 1)[1].split(" ", 1)[0]
    assert f"run {run_id}" in out and "invoke_agent governance_pre" in out and "execute_tool query_records" in out  # the tree of that turn
    assert "now on thread t-other" in out and "thread t-other\n" in out
    assert "unknown command /bogus" in out and "/thread [ID|new]" in out
    assert out.count("· task ") == 1, "only the message was a turn: no slash command and nothing after /exit reached the agents"
    workflows = [s for s in run_spans(home.traces_path, run_id) if s["name"].startswith("invoke_workflow")]
    assert len(workflows) == 1
