"""The governed invoker: agent tool sets, role policy, schema validation, audit and spans."""

from __future__ import annotations

import pytest

from core.settings import Settings
from policies.audit import AuditLog
from tools.base import ToolDeniedError, ToolDeps, UnknownToolError
from tools.governed import GovernedInvoker, ToolArgumentError
from tools.registry import AGENT_TOOLS, as_structured_tool, get_tool, load_tools


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path)


def _invoker(settings: Settings, agent: str, role: str = "clinician", purpose: str = "treatment") -> GovernedInvoker:
    return GovernedInvoker(ToolDeps(settings=settings, user="dr-t", role=role, purpose=purpose, run_id="run-t"), agent)


def test_registry_has_every_planned_tool_with_described_args() -> None:
    tools = load_tools()
    assert set().union(*AGENT_TOOLS.values()) <= set(tools)
    for definition in tools.values():
        schema = definition.args_model.model_json_schema()
        assert all(p.get("description") for p in schema["properties"].values()), definition.name


def test_model_facing_schema_hides_infrastructure(settings: Settings) -> None:
    tool = as_structured_tool(get_tool("retrieve_similar_cases"), ToolDeps(settings=settings, user="u", role="clinician", purpose="treatment"))
    props = tool.tool_call_schema.model_json_schema()["properties"]
    assert "findings" in props and not {"settings", "user", "role", "deps", "sites", "consents"} & set(props)


def test_tool_outside_the_agents_set_cannot_be_called(settings: Settings) -> None:
    invoker = _invoker(settings, "model")
    with pytest.raises(ToolDeniedError, match="agent 'model' may not call 'query_records'"):
        invoker.call("query_records", {"sql": "SELECT 1"})
    assert invoker.decisions[0]["effect"] == "deny" and invoker.calls[0]["status"] == "denied"
    entries = AuditLog(settings.audit_path).entries()
    assert entries[-1].action == "tool:query_records" and entries[-1].decision == "denied"


def test_tool_denied_to_the_role_cannot_be_called(settings: Settings) -> None:
    with pytest.raises(ToolDeniedError, match="may not use tool 'get_patient_record'"):
        _invoker(settings, "data", role="researcher", purpose="research").call("get_patient_record", {"patient_id": "p1"})
    with pytest.raises(ToolDeniedError, match="not in policy pack"):
        _invoker(settings, "data", role="janitor").call("label_findings", {"text": "No effusion."})


def test_arguments_are_validated_by_the_schema(settings: Settings) -> None:
    with pytest.raises(ToolArgumentError, match="patient_id"):
        _invoker(settings, "data").call("get_patient_record", {"patient_id": "x'; DROP TABLE patients; --"})
    with pytest.raises(UnknownToolError):
        _invoker(settings, "data").call("format_disk", {})


def test_allowed_call_returns_typed_result_with_provenance(settings: Settings) -> None:
    result = _invoker(settings, "task").call("label_findings", {"text": "Mild cardiomegaly. No pleural effusion."})
    assert result.labels["cardiomegaly"] == "present" and result.labels["pleural_effusion"] == "absent"
    assert result.provenance.source == "labeler:rules"
    assert AuditLog(settings.audit_path).verify().ok


def test_redaction_takes_one_text_or_many_in_one_audited_call(settings: Settings) -> None:
    invoker = _invoker(settings, "governance")
    texts = ["Seen by Dr. John Smith on 03/04/2021.", "present", "No acute disease.", "Call 617-555-0199 for MRN 12345678."]
    many = invoker.call("redact_phi", {"texts": texts})
    singles = [invoker.call("redact_phi", {"text": t}) for t in texts]
    assert [i.text for i in many.items] == [s.text for s in singles] and many.items[1].text == "present"
    assert "John Smith" not in many.items[0].text and "617-555-0199" not in many.items[3].text and not many.items[2].entities
    assert [c["tool"] for c in invoker.calls] == ["redact_phi"] * 5  # the batch is one call (one span, one audit entry)
    for bad in ({}, {"text": "a", "texts": ["b"]}, {"texts": []}, {"texts": ["x"] * 257}, {"text": "a", "extra": 1}):
        with pytest.raises(ToolArgumentError):
            invoker.call("redact_phi", bad)
    with pytest.raises(ToolArgumentError) as refused:  # too long: the message names the field, never its text
        invoker.call("redact_phi", {"texts": ["Patient John Smith. " * 1001]})
    assert "John Smith" not in refused.value.message and "texts" in refused.value.message
