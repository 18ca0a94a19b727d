"""``sagehealth generate-batch``: draft impressions for a JSON-lines file of findings.

Each input line is ``{"id": ..., "findings": ...}``; each output line
``{"id": ..., "impression": ..., "retrieved": [ids]}``. A bad line is
reported with its line number and skipped; the others are processed. The output file appears
only when complete (written to a temporary file beside it, then renamed). Exit status, as for
``ingest``: 0 every line drafted, 3 some lines skipped (the rest drafted), 1 nothing drafted.

The batch is governed (``services.batch.generate_batch``): the caller's role and purpose
must be allowed the tools the mode uses, retrieval sees only train-split cases the role may see,
impressions pass PHI redaction, and the batch is one audit event. A denied caller gets exit 1
and no output file.

Example::

    sagehealth generate-batch --in findings.jsonl --out drafts.jsonl --mode rag --k 3 --user dr-lee --role clinician
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import typer

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, emit, err_console, fail, open_resources, who
from core.errors import SageError

InOpt = typer.Option(..., "--in", help='JSON-lines input: {"id", "findings"} per line.')
OutOpt = typer.Option(..., "--out", help='JSON-lines output: {"id", "impression", "retrieved"} per line.')


class BatchInputError(SageError):
    """The input file is missing or has no usable line."""


def read_items(path: Path) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Valid ``{"id", "findings"}`` items and ``{"line", "error"}`` for each bad line (1-based line numbers)."""
    if not path.is_file():
        raise BatchInputError(f"input file {path} does not exist", hint="pass a JSON-lines file: one {\"id\", \"findings\"} object per line")
    items, errors, seen = [], [], set()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BatchInputError(f"input file {path} is not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8") from None
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append({"line": number, "error": f"not valid JSON: {exc.msg}"})
            continue
        if not isinstance(record, dict) or not isinstance(record.get("id"), str | int) or not isinstance(record.get("findings"), str):
            errors.append({"line": number, "error": 'expected {"id": string, "findings": string}'})
            continue
        findings, case_id = record["findings"].strip(), str(record["id"])
        if not findings or len(findings) > 5000:
            errors.append({"line": number, "error": f"findings of {case_id!r} must be 1-5000 characters"})
        elif case_id in seen:
            errors.append({"line": number, "error": f"duplicate id {case_id!r}"})
        else:
            seen.add(case_id)
            items.append({"id": case_id, "findings": findings})
    return items, errors


def write_atomically(path: Path, lines: list[dict[str, Any]]) -> None:
    """Write JSON lines to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def register(app: typer.Typer) -> None:
    """Mount ``generate-batch``."""

    @app.command("generate-batch")
    def generate_batch(
        in_path: Path = InOpt,
        out_path: Path = OutOpt,
        mode: str = typer.Option("rag", "--mode", help="rag (retrieve-then-edit) | rag-lm | no-rag | retrieval-only."),
        model: str | None = typer.Option(None, "--model", help="Zoo name of the chat model (default: SAGE_CHAT_MODEL)."),
        adapter: str | None = typer.Option(None, "--adapter", help="LoRA adapter name."),
        k: int = typer.Option(3, "--k", min=1, max=10, help="Similar cases retrieved per report."),
        batch_size: int = typer.Option(8, "--batch-size", min=1, max=64, help="Reports per batch."),
        max_new_tokens: int = typer.Option(96, "--max-new-tokens", min=8, max=512, help="Generation budget per impression."),
        as_json: bool = JsonOpt,
        user: str | None = UserOpt,
        role: str | None = RoleOpt,
        purpose: str = PurposeOpt,
    ) -> None:
        """Draft impressions for every line of --in and write them to --out."""
        from rich.progress import Progress

        from services.batch import BatchRequest
        from services.batch import generate_batch as generate_service

        resources = open_resources()
        person = who(resources, user, role, purpose)
        try:
            if mode not in ("rag", "rag-lm", "no-rag", "retrieval-only"):
                raise BatchInputError(f"unknown --mode {mode!r}", hint="use rag, rag-lm, no-rag or retrieval-only")
            items, errors = read_items(in_path)
            for err in errors:
                err_console.print(f"[yellow]{in_path}:{err['line']}:[/] {err['error']} (skipped)")
            if not items:
                raise BatchInputError(f"{in_path} has no usable line ({len(errors)} bad)", hint="fix the lines reported above")
            with Progress(console=err_console, disable=as_json, transient=True) as progress:
                bar = progress.add_task(f"drafting ({mode})", total=len(items))
                request = BatchRequest.parse({"cases": items, "mode": mode, "model": model, "adapter": adapter, "k": k, "batch_size": batch_size,
                                              "max_new_tokens": max_new_tokens, "skipped": len(errors)})
                results = generate_service(resources, person, request, on_batch=lambda n: progress.advance(bar, n))
            write_atomically(out_path, [r.line() for r in results])
        except SageError as exc:
            fail(exc, as_json)
            return
        finally:
            resources.close()
        redacted = sum(1 for r in results if r.extra.get("phi_redacted"))
        summary = {"out": str(out_path), "written": len(results), "skipped": errors, "redacted": redacted, "mode": mode, "user": person.user, "role": person.role, "purpose": purpose}
        emit(summary, as_json, render=lambda s: err_console.print(f"wrote {s['written']} impressions to {s['out']} ({len(s['skipped'])} line(s) skipped)"))
        if errors:
            raise typer.Exit(3)  # drafted, but not every line: a script must notice
