"""Policy decisions for tools, tables, search filters, outputs, relabelling and review."""

from __future__ import annotations

import pytest

from policies.engine import Caller, PolicyDeniedError, PolicyEngine
from policies.packs import load_pack


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine(load_pack("default"))


NATURAL_PURPOSE = {"clinician": "treatment", "radiologist": "labeling", "researcher": "research", "data_engineer": "operations", "auditor": "audit"}


def who(role: str, purpose: str | None = None) -> Caller:
    """A caller with the given purpose, or the role's usual one (purposes are never defaulted by the engine)."""
    return Caller(user="u1", role=role, purpose=purpose or NATURAL_PURPOSE.get(role, "treatment"))


@pytest.mark.parametrize(
    ("role", "tool", "effect"),
    [
        ("clinician", "query_records", "allow"),
        ("clinician", "anything_new", "allow"),
        ("researcher", "retrieve_similar_cases", "allow"),
        ("researcher", "update_labels", "deny"),
        ("auditor", "query_records", "deny"),
        ("auditor", "policy_check", "allow"),
        ("janitor", "query_records", "deny"),
    ],
)
def test_check_tool(engine: PolicyEngine, role: str, tool: str, effect: str) -> None:
    decision = engine.check_tool(who(role), tool)
    assert decision.effect == effect and decision.action == f"tool:{tool}" and decision.caller.role == role and decision.reason


def test_unknown_role_denied_with_reason(engine: PolicyEngine) -> None:
    decision = engine.check_tool(who("janitor"), "retrieve_similar_cases")
    assert decision.effect == "deny" and "janitor" in decision.reason and "clinician" in decision.reason
    with pytest.raises(PolicyDeniedError):
        engine.search_filter_fields(who("janitor"))


def test_purpose_must_be_allowed(engine: PolicyEngine) -> None:
    assert engine.check_tool(who("researcher", "research"), "retrieve_similar_cases").effect == "allow"
    decision = engine.check_tool(who("researcher", "treatment"), "retrieve_similar_cases")
    assert decision.effect == "deny" and decision.rule == "roles.researcher.purposes"


def test_table_and_column_access(engine: PolicyEngine) -> None:
    assert engine.check_table_access(who("clinician"), ["patients"], ["mrn", "given_name"]).effect == "allow"
    denied = engine.check_table_access(who("researcher"), ["patients"], ["patients.mrn", "birth_year"])
    assert denied.effect == "deny" and denied.details["columns"] == ["patients.mrn"]
    redacted = engine.check_table_access(who("researcher"), ["patients", "reports"], ["*"])
    assert redacted.effect == "redact" and {"mrn", "family_name", "address", "phone"} <= set(redacted.details["columns"])
    assert engine.check_table_access(who("researcher"), ["reports"], ["findings", "impression"]).effect == "allow"
    assert engine.check_table_access(who("auditor"), ["patients"], ["*"]).effect == "deny"
    assert engine.check_table_access(who("auditor"), ["audit"], ["*"]).effect == "allow"


def test_identifier_denials_hide_no_clinical_column(engine: PolicyEngine) -> None:
    """Identifying columns are denied on the table that has them; a lab's ``name`` is clinical."""
    from lakehouse.raw.schema import TABLES

    for role in ("researcher", "data_engineer"):
        assert engine.check_table_access(who(role), ["observations"], ["name", "value", "unit"]).effect == "allow", role
        assert engine.check_table_access(who(role), ["patients"], ["patients.family_name"]).effect == "deny", role
        denied = engine.pack.roles[role].denied_columns
        assert set(denied) == {"patients"}, f"{role}: identifier denials name their table"
        assert {"mrn", "given_name", "family_name", "address", "phone"} <= set(denied["patients"]) <= set(TABLES["patients"][1]) | {"email", "ssn"}
    assert engine.check_table_access(who("researcher"), ["patients", "observations"], ["*"]).details["columns"] == sorted(engine.pack.roles["researcher"].denied_columns["patients"])


def test_researcher_reads_report_labels_for_finding_cohorts(engine: PolicyEngine) -> None:
    assert engine.check_table_access(who("researcher", "research"), ["reports", "report_labels"], ["report_id", "finding", "state"]).effect == "allow"


@pytest.mark.parametrize(
    ("role", "purpose", "action", "effect"),
    [
        ("clinician", "treatment", "review", "allow"),
        ("radiologist", "labeling", "review", "allow"),
        ("researcher", "research", "review", "deny"),
        ("auditor", "audit", "review", "deny"),
        ("data_engineer", "operations", "review", "deny"),
        ("clinician", "treatment", "import_interactions", "allow"),
        ("data_engineer", "operations", "import_interactions", "allow"),
        ("researcher", "research", "import_interactions", "deny"),
        ("auditor", "audit", "import_interactions", "deny"),
    ],
)
def test_command_actions(engine: PolicyEngine, role: str, purpose: str, action: str, effect: str) -> None:
    assert engine.check_tool(who(role, purpose), action).effect == effect


def test_search_filter_fields_are_plain_values(engine: PolicyEngine) -> None:
    assert engine.search_filter_fields(who("researcher")) == {"sites": None, "consents": ["research"], "max_sensitivity": 1}
    assert engine.search_filter_fields(who("clinician"))["consents"] is None


def test_output_phi_handling(engine: PolicyEngine) -> None:
    clean = engine.check_output(who("clinician"), "No acute disease.", phi_found=False)
    assert clean.effect == "allow" and clean.resource.startswith("sha256:") and "acute" not in clean.resource
    assert engine.check_output(who("clinician"), "John Smith MRN 123", phi_found=True).effect == "redact"
    strict = PolicyEngine(load_pack("default").model_copy(update={"phi_output": "deny"}))
    assert strict.check_output(who("clinician"), "John Smith", phi_found=True).effect == "deny"


def test_relabel_and_review(engine: PolicyEngine) -> None:
    assert engine.check_relabel(who("radiologist"), "CXR10").effect == "allow"
    assert engine.check_relabel(who("researcher"), "CXR10").effect == "deny"
    assert engine.check_review(who("clinician"), 0.9, []).effect == "allow"
    low = engine.check_review(who("clinician"), 0.1, [])
    assert low.effect == "review" and "similarity" in low.reason
    assert engine.check_review(who("clinician"), 0.9, ["pneumonia"]).effect == "review"
