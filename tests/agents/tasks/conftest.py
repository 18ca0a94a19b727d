"""``DirectContext``: a TaskContext whose tools call the backing functions directly (no graph).

Task steps are tested here on the real lakehouse, labeler, knowledge tables and model; the
governed path (policy, audit, spans around the same calls) is covered by the graph tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class DirectContext:
    """Calls the backing functions of the tools by name; records every call."""

    user = "test-clinician"
    role = "clinician"
    purpose = "treatment"

    def __init__(self, settings: Settings) -> None:
        from tools.resources import Resources

        self.settings = settings
        self.resources = Resources.for_settings(settings)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call_tool(self, name: str, args: dict[str, Any]) -> Any:
        self.calls.append((name, args))
        return getattr(self, f"_{name}")(**args)

    def outside_tools(self) -> dict[str, dict[str, Any]]:
        return {}  # no outside MCP tools outside the governed graph

    def _engine(self) -> Any:
        return self.resources.query

    def _retrieve_similar_cases(self, findings: str, k: int = 3, mode: str = "rag", exclude_ids: list[str] | None = None, image_vector: list[float] | None = None, strategy: str = "label-aware",
                                required_findings: dict[str, str] | None = None) -> dict[str, Any]:
        from lakehouse.retrieval import retrieve_similar_cases
        from lakehouse.semantic import SearchFilter

        base = SearchFilter(findings=required_findings or {})  # type: ignore[arg-type]
        hits = retrieve_similar_cases(self.resources.store, self.resources.embedder, findings, k=k, exclude_ids=exclude_ids or [], image_vector=image_vector, strategy=strategy, base_filter=base)  # type: ignore[arg-type]
        return {"hits": [h.model_dump() for h in hits]}

    def _query_records(self, sql: str) -> dict[str, Any]:
        result = self._engine().sql(sql)
        return {"columns": result.columns, "rows": result.records(), "sql": result.sql}

    def _get_patient_record(self, patient_id: str) -> dict[str, Any]:
        pid = _quote(patient_id)
        sections = {
            "patient": f"SELECT patient_id, birth_date, sex, site FROM patients WHERE patient_id = {pid}",
            "conditions": f"SELECT condition_id, icd10_code, description, clinical_status FROM conditions WHERE patient_id = {pid}",
            "medications": f"SELECT medication_id, drug_name, dose, status FROM medications WHERE patient_id = {pid}",
            "observations": f"SELECT observation_id, loinc_code, name, value, unit FROM observations WHERE patient_id = {pid}",
            "reports": f"SELECT report_id, findings, impression FROM reports WHERE patient_id = {pid}",
        }
        record = {name: self._engine().sql(sql).records() for name, sql in sections.items()}
        record["patient"] = record["patient"][0] if record["patient"] else None
        return record

    def _generate_text(self, messages: list[dict[str, str]], max_new_tokens: int = 96, temperature: float = 0.0, seed: int = 0, adapter: str | None = None) -> dict[str, Any]:
        from models.lm.types import GenerationParams
        model = self.resources.zoo.chat_model()
        out = model.generate(messages, GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed), adapter=adapter)
        return {"text": out.text, "model": out.model, "adapter": out.adapter, "input_tokens": out.input_tokens, "output_tokens": out.output_tokens}

    def _check_interactions(self, current: list[str], proposed: str) -> dict[str, Any]:
        from lakehouse.knowledge.interactions import InteractionTable

        return {"interactions": [i.model_dump() for i in InteractionTable.default().check(current, proposed)]}

    def _label_findings(self, text: str) -> dict[str, Any]:
        from lakehouse.labeler import label_text

        return {"labels": dict(label_text(text))}


def link_chat_model(settings: Settings) -> None:
    """Reuse an already dequantized SmolLM2 folder (machine cache) instead of rebuilding it per run."""
    target = settings.models_dir / "smollm2-135m"
    cached = Path("/tmp/sage-models/smollm2-135m")
    if not target.exists() and (cached / "config.json").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(cached, target_is_directory=True)


@pytest.fixture
def direct(small_lakehouse: Settings) -> DirectContext:
    link_chat_model(small_lakehouse)
    return DirectContext(small_lakehouse)
