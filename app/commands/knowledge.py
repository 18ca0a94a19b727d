"""``sagehealth knowledge``: the clinical knowledge the tasks consult (site interaction tables).

Importing a table changes what every interaction check answers, so it is a governed action:
the pack must grant the caller's role ``import_interactions`` (clinicians and radiologists via
``*``, data engineers by name); the decision and the import are audited. Example::

    sagehealth knowledge import-interactions pharmacy.csv --user eng-1 --role data_engineer --purpose operations
    sagehealth knowledge interactions --json
"""

from __future__ import annotations

from pathlib import Path

import typer

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, console, emit, fail, open_resources, who
from core.errors import SageError

TableArg = typer.Argument(..., help="CSV with columns drug_a,drug_b,severity,mechanism,management,source.")
knowledge_app = typer.Typer(help="Clinical knowledge: import a site's drug-interaction table, list tables.", no_args_is_help=True)


@knowledge_app.command("import-interactions")
def import_interactions(
    path: Path = TableArg,
    name: str | None = typer.Option(None, "--name", help="Table name (default: the file's stem); re-importing a name replaces it."),
    user: str | None = UserOpt,
    role: str | None = RoleOpt,
    purpose: str = PurposeOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Validate a site interaction table and install it; its rows override shipped rows for the same pair."""
    from services.knowledge import ImportRequest
    from services.knowledge import import_interactions as import_service

    resources = open_resources()
    try:
        info = import_service(resources, who(resources, user, role, purpose), ImportRequest(path=path, name=name))
    except SageError as exc:
        fail(exc, as_json)
        return
    emit(info.model_dump(mode="json"), as_json, lambda r: console.print(f"imported {r['rows']} interaction(s) as table [bold]{r['table']}[/] ({r['path']})"))


@knowledge_app.command("interactions")
def list_tables(as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
    """List the interaction tables in use: the shipped one and each imported site table."""
    from services.knowledge import list_tables as list_service

    resources = open_resources()
    try:
        tables = [t.model_dump(mode="json") for t in list_service(resources, who(resources, user, role, purpose))]
    except SageError as exc:
        fail(exc, as_json)
        return
    def show(rows: list[dict]) -> None:
        for t in rows:
            console.print(f"{t['table']:<20} {t['rows']:>5} rows  {t['path']}")

    emit(tables, as_json, show)


def register(app: typer.Typer) -> None:
    """Mount ``knowledge`` on the main CLI."""
    app.add_typer(knowledge_app, name="knowledge")
