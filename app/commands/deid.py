"""``sagehealth deid --in F.jsonl --out F.jsonl``: de-identify a batch of documents.

Each input line is ``{"id": ..., "text": ...}`` (optionally ``"patient_key"``, which keys
pseudonyms and date shifts across one patient's documents); each output line has the same id,
the de-identified text and the count of identifiers masked per type. Example::

    sagehealth deid --in notes.jsonl --out notes.deid.jsonl --role data_engineer --purpose operations
    sagehealth deid --in notes.jsonl --out notes.deid.jsonl --pseudonymize --shift-dates --secret-file ~/.config/sagehealth/deid.key
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.common import (
    JsonOpt,
    PurposeOpt,
    RoleOpt,
    UserOpt,
    console,
    emit,
    err_console,
    fail,
    open_resources,
    who,
)
from core.errors import SageError

InOpt = typer.Option(..., "--in", help='JSON lines: {"id", "text"[, "patient_key"]} per line.')
OutOpt = typer.Option(..., "--out", help="JSON lines: id, de-identified text, counts per identifier type.")
PseudoOpt = typer.Option(False, "--pseudonymize", help="Consistent keyed surrogates instead of [NAME], [MRN], ...")
ShiftOpt = typer.Option(False, "--shift-dates", help="Shift dates by a fixed per-patient offset instead of [DATE].")
SecretOpt = typer.Option(None, "--secret-file", help="Key for pseudonyms and date shifts (16+ characters; keep it outside SAGE_HOME).")
BatchOpt = typer.Option(32, "--batch-size", min=1, max=512)


def register(app: typer.Typer) -> None:
    """Add ``deid``."""

    @app.command("deid")
    def deid_cmd(
        in_path: Path = InOpt,
        out_path: Path = OutOpt,
        pseudonymize: bool = PseudoOpt,
        shift_dates: bool = ShiftOpt,
        secret_file: Path | None = SecretOpt,
        batch_size: int = BatchOpt,
        user: str | None = UserOpt,
        role: str | None = RoleOpt,
        purpose: str = PurposeOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """De-identify every document of --in into --out (Presidio + the lakehouse's own identifier formats and patient names)."""
        from services.deid import DeidRequest, deidentify

        resources = open_resources()
        request = DeidRequest(in_path=in_path, out_path=out_path, pseudonymize=pseudonymize, shift_dates=shift_dates, secret_file=secret_file, batch_size=batch_size)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            with Progress(*columns, console=err_console, disable=as_json, transient=True) as bars:
                bar = bars.add_task("de-identifying", total=None)
                summary = deidentify(resources, who(resources, user, role, purpose), request, progress=lambda n: bars.advance(bar, n))
        except SageError as exc:
            fail(exc, as_json)
            return
        emit(summary, as_json, lambda s: console.print(f"wrote {s.documents} de-identified document(s) to {s.out}; masked {s.masked}"))
