"""Clinical knowledge as services: import a site's drug-interaction table, list the tables in use.

Importing changes what every interaction check answers, so the pack must grant
``import_interactions``; listing needs ``knowledge_read``. One audit event each.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from services.base import Caller, ServiceRequest, governed
from tools.resources import Resources

IMPORT_HINT = "use a role the policy pack allows to import knowledge (e.g. --role data_engineer --purpose operations)"


class ImportRequest(ServiceRequest):
    """A site interaction table (CSV) to install."""

    path: Path
    name: str | None = Field(None, max_length=64, description="Table name (default: the file's stem); re-importing a name replaces it.")


class TableInfo(BaseModel):
    """One interaction table in use."""

    table: str
    rows: int
    path: str


def import_interactions(resources: Resources, caller: Caller, request: ImportRequest) -> TableInfo:
    """Validate a site interaction table and install it; its rows override shipped rows for the same pair."""
    from lakehouse.knowledge.interactions import import_site_table

    name = (request.name or request.path.stem)[:128]
    with governed(resources, caller, "import_knowledge", "import_interactions", resource=name, audit_action="knowledge:import-interactions", hint=IMPORT_HINT):
        target, table = import_site_table(request.path, resources.settings.interactions_dir, request.name)  # validates before installing
    return TableInfo(table=target.stem, rows=len(table), path=str(target))


def list_tables(resources: Resources, caller: Caller) -> list[TableInfo]:
    """The interaction tables in use: the shipped one and each imported site table."""
    from lakehouse.knowledge.interactions import InteractionTable

    with governed(resources, caller, "list_knowledge", "knowledge_read", resource="interaction-tables", audit_action="knowledge:list"):
        folder = resources.settings.interactions_dir
        tables = [TableInfo(table="shipped", rows=len(InteractionTable.default()), path="lakehouse/knowledge/interactions.csv")]
        for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
            tables.append(TableInfo(table=path.stem, rows=len(InteractionTable.from_csv(path)), path=str(path)))
        return tables
