"""Prompts of the clinical tasks, versioned with the code (the impression prompt is in models.prompts).

The cohort SQL prompt lists the raw-tier schema from :mod:`lakehouse.raw.schema`, so it cannot
drift from the tables; whatever SQL the model writes still passes the read-only guard and the
caller's table/column scope before it runs.

Retrieved or tool text in a prompt is data, never instructions. By the time it gets here the
data agent has dropped texts the injection guard flags (``agents.governance.screen_retrieved``);
a prompt that shows such text also fences it: the system message includes
:data:`policies.guards.UNTRUSTED_NOTE` and each text goes through :func:`untrusted_block`
(``quote_untrusted``). The impression prompt (``models.prompts``, template ``impression-v1``) is
the exception: adapters were trained on its exact shape, so :func:`prior_cases` only strips
control sequences (chat-template tokens, fence pieces, line-start chat roles) from the examples,
which leaves clean report text byte-identical; fencing it needs a new template version and a
retrained adapter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lakehouse.findings import FINDING_KEYS
from lakehouse.raw.schema import TABLES
from lakehouse.retrieval import CaseEvidence
from models.prompts import PriorCase
from policies.guards import quote_untrusted, strip_control

COHORT_SQL_VERSION = "cohort-sql-v1"

DIFFERENTIAL_DISCLAIMER = (
    "Decision support only: this ranked list of considerations is not a diagnosis. It is derived from "
    "the report text, similar prior cases and the patient record, and must be reviewed by a qualified "
    "clinician together with the full clinical picture."
)


def untrusted_block(label: str, text: str) -> str:
    """Retrieved/tool ``text`` fenced as data under ``label``, for prompts that state UNTRUSTED_NOTE."""
    return quote_untrusted(text, label)


def prior_cases(hits: Iterable[CaseEvidence]) -> list[PriorCase]:
    """Retrieved cases as impression-prompt examples, with control sequences stripped from their text."""
    return [PriorCase(h.case_id, strip_control(h.findings), strip_control(h.impression)) for h in hits]


def _schema_lines() -> list[str]:
    skip = {"mrn", "given_name", "family_name", "address", "phone"}  # identifiers the model never needs
    return [f"- {table}({', '.join(c for c in columns if c not in skip)})" for table, (_, columns) in TABLES.items() if table != "images"]


def cohort_sql_messages(question: str) -> list[dict[str, str]]:
    """Chat messages asking for one DuckDB SELECT answering ``question`` over the raw tier."""
    system = "\n".join(
        [
            "You translate a clinician's question into ONE read-only DuckDB SQL SELECT statement.",
            "Tables (current versions):",
            *_schema_lines(),
            "report_labels.finding is one of: " + ", ".join(k for k in FINDING_KEYS if k != "no_finding") + "; state is 'present', 'absent' or 'uncertain'.",
            "reports.report_id = report_labels.report_id; reports.patient_id = patients.patient_id.",
            "Age in years: date_diff('year', patients.birth_date, current_date). medications.drug_name is a lower-case generic name.",
            "Answer with the SQL only, no explanation, no markdown.",
        ]
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": question.strip()}]


def extract_sql(text: str) -> str:
    """The SQL statement in a model answer (code fences and trailing prose removed)."""
    fenced = re.search(r"```(?:sql)?\s*(.*?)```", text, re.S | re.I)
    body = fenced.group(1) if fenced else text
    start = re.search(r"\b(?:SELECT|WITH)\b", body, re.I)
    if start is None:
        return ""
    return body[start.start() :].split(";")[0].strip()
