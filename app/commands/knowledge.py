"""``sagehealth knowledge``: the clinical knowledge the tasks consult (site interaction tables).

Importing a table changes what every interaction check answers, so it is a governed action:
the pack must grant the caller's role ``import_interactions`` (clinicians and radiologists via
``*``, data engineers by name); the decision and the import are audited. Example::

    sagehealth knowledge import-interactions pharmacy.csv --user eng-1 --role data_engineer --purpose operations
"""

from __future__ import annotations

from pathlib import Path

import typer

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, caller, console, emit, fail, load_settings
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
    from lakehouse.knowledge.interactions import import_site_table
    from policies.audit import AuditEvent
    from policies.engine import Caller
    from tools.governed import authorize_action
    from tools.resources import audit_log

    settings = load_settings()
    who, role_name = caller(settings, user, role)
    action = "knowledge:import-interactions"
    try:
        decision = authorize_action(
            settings, Caller(user=who, role=role_name, purpose=purpose), "import_interactions", resource=(name or path.stem)[:128], audit_action=action,
            hint="use a role the policy pack allows to import knowledge (e.g. --role data_engineer --purpose operations)",
        )
        target, table = import_site_table(path, settings.interactions_dir, name)
    except SageError as exc:
        fail(exc, as_json)
        return
    audit_log(settings).append(
        AuditEvent(actor=who, action=action, resource=target.stem, decision="ok", details={"rows": len(table), "role": role_name, "purpose": purpose, "rule": decision.rule})
    )
    emit({"table": target.stem, "path": str(target), "rows": len(table)}, as_json,
         lambda r: console.print(f"imported {r['rows']} interaction(s) as table [bold]{r['table']}[/] ({r['path']})"))


@knowledge_app.command("interactions")
def list_tables(as_json: bool = JsonOpt) -> None:
    """List the interaction tables in use: the shipped one and each imported site table."""
    from lakehouse.knowledge.interactions import InteractionTable

    settings = load_settings()
    try:
        tables = [{"table": "shipped", "rows": len(InteractionTable.default()), "path": "lakehouse/knowledge/interactions.csv"}]
        for path in sorted(settings.interactions_dir.glob("*.csv")) if settings.interactions_dir.is_dir() else []:
            tables.append({"table": path.stem, "rows": len(InteractionTable.from_csv(path)), "path": str(path)})
    except SageError as exc:
        fail(exc, as_json)
        return
    emit(tables, as_json, lambda ts: [console.print(f"{t['table']:<20} {t['rows']:>5} rows  {t['path']}") for t in ts])


def register(app: typer.Typer) -> None:
    """Mount ``knowledge`` on the main CLI."""
    app.add_typer(knowledge_app, name="knowledge")
