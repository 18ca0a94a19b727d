"""Adapter commands: ``sagehealth adapt train | list | show | delete | merge``.

Examples::

    sagehealth adapt train --name indiana-v1 --max-steps 200 --limit 1600
    sagehealth adapt list --json
    sagehealth adapt show indiana-v1
    sagehealth adapt merge indiana-v1 --out ./export/indiana-v1
    sagehealth adapt delete indiana-v1
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, console, emit, fail, open_resources, who
from core.errors import SageError

OutOpt = typer.Option(..., "--out", help="New folder for the merged model.")


def _render_list(manifests: list) -> None:  # list[AdapterManifest]; the services are imported lazily
    table = Table(title="Adapters")
    for column in ("name", "base", "steps", "n_train", "eval_loss", "label_agreement", "created"):
        table.add_column(column)
    for m in manifests:
        metric = m.metrics.get
        table.add_row(
            m.name, m.base_model, str(metric("steps")), str(m.data.n_train), f"{metric('eval_loss') or float('nan'):.3f}",
            str(metric("eval_label_agreement", "-")), m.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``adapt`` group to the CLI."""
    adapt_app = typer.Typer(help="LoRA adapters: train on the lakehouse, list, inspect, delete, merge for export.", no_args_is_help=True)
    app.add_typer(adapt_app, name="adapt")

    @adapt_app.command("train")
    def train(
        name: str = typer.Option(..., "--name", help="Adapter name: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit."),
        epochs: int = typer.Option(1, "--epochs", min=1),
        max_steps: int | None = typer.Option(None, "--max-steps", min=1, help="Stop after N optimizer steps (short runs)."),
        limit: int | None = typer.Option(None, "--limit", min=1, help="Use at most N training reports."),
        eval_limit: int = typer.Option(60, "--eval-limit", min=1, help="Held-out test-split reports for the final evaluation."),
        r: int = typer.Option(16, "--r", min=1, help="LoRA rank."),
        lr: float = typer.Option(2e-4, "--lr", help="Learning rate."),
        batch_size: int = typer.Option(8, "--batch-size", min=1),
        max_seq_len: int = typer.Option(512, "--max-seq-len", min=16, max=8192, help="Token cap per example (prompt with prior cases + impression)."),
        rag_fraction: float = typer.Option(0.5, "--rag-fraction", min=0.0, max=1.0, help="Share of examples whose prompt shows similar prior cases (as the rag mode does)."),
        abnormal_fraction: float = typer.Option(0.5, "--abnormal-fraction", min=0.0, max=0.95, help="Minimum share of abnormal cases (oversampled)."),
        resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue an interrupted run of the same name."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an installed adapter of the same name."),
        user: str | None = UserOpt,
        role: str | None = RoleOpt,
        purpose: str = typer.Option("quality", "--purpose", help="Purpose of use (policy-checked)."),
        as_json: bool = JsonOpt,
    ) -> None:
        """Fine-tune a LoRA adapter on de-identified train-split reports and install it."""
        from services.adapters import TrainRequest
        from services.adapters import train as train_service
        from services.config import lora_config

        resources = open_resources()
        try:
            config = lora_config(epochs=epochs, max_steps=max_steps, r=r, alpha=2 * r, lr=lr, batch_size=batch_size, max_seq_len=max_seq_len, limit=limit)
            request = TrainRequest(name=name, config=config, limit=limit, eval_limit=eval_limit, rag_fraction=rag_fraction, abnormal_fraction=abnormal_fraction,
                                   resume=resume, overwrite=overwrite, progress=not as_json)
            manifest = train_service(resources, who(resources, user, role, purpose), request)
        except SageError as exc:
            fail(exc, as_json)
            return
        emit(manifest, as_json, lambda m: console.print(f"installed adapter [bold]{m.name}[/]: {m.metrics}"))

    @adapt_app.command("list")
    def list_adapters(as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
        """List installed adapters with their headline metrics."""
        from services.adapters import list_adapters as list_service

        resources = open_resources()
        try:
            manifests = list_service(resources, who(resources, user, role, purpose))
        except SageError as exc:
            fail(exc, as_json)
            return
        emit([m.model_dump(mode="json") for m in manifests] if as_json else manifests, as_json, _render_list)

    @adapt_app.command("show")
    def show(name: str = typer.Argument(..., help="Adapter name."), as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
        """Print one adapter's full manifest (data provenance, hyper-parameters, metrics, privacy)."""
        from services.adapters import show_adapter

        resources = open_resources()
        try:
            manifest = show_adapter(resources, who(resources, user, role, purpose), name)
        except SageError as exc:
            fail(exc, as_json)
            return
        emit(manifest, as_json, lambda m: console.print_json(m.model_dump_json()))

    @adapt_app.command("delete")
    def delete(name: str = typer.Argument(..., help="Adapter name."), as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
        """Remove an installed adapter."""
        from services.adapters import delete_adapter

        resources = open_resources()
        try:
            delete_adapter(resources, who(resources, user, role, purpose), name)
        except SageError as exc:
            fail(exc, as_json)
            return
        emit({"deleted": name}, as_json, lambda r: console.print(f"deleted adapter [bold]{name}[/]"))

    @adapt_app.command("merge")
    def merge(
        name: str = typer.Argument(..., help="Adapter name."),
        out: Path = OutOpt,
        as_json: bool = JsonOpt,
        user: str | None = UserOpt,
        role: str | None = RoleOpt,
        purpose: str = PurposeOpt,
    ) -> None:
        """Export base + adapter as one plain Hugging Face model folder (for vLLM, llama.cpp, ...)."""
        from services.adapters import merge_adapter

        resources = open_resources()
        try:
            path = merge_adapter(resources, who(resources, user, role, purpose), name, out)
        except SageError as exc:
            fail(exc, as_json)
            return
        emit({"merged": name, "path": str(path)}, as_json, lambda r: console.print(f"merged [bold]{name}[/] into {r['path']}"))
