from __future__ import annotations

import json
from pathlib import Path

import pytest

from policies.feedback_rules import FeedbackRules, load_feedback_rules, review_decision
from policies.packs import PolicyPackError, load_pack


def test_default_pack_has_a_valid_feedback_section() -> None:
    rules = load_feedback_rules("default")
    assert "pneumothorax" in rules.high_impact_findings and rules.require_text_support
    assert load_pack("default").roles["clinician"].can_relabel  # the role gate stays in the pack model


def test_bad_or_missing_section(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"feedback": {"similarity_threshold": 3}}))
    with pytest.raises(PolicyPackError, match="similarity_threshold"):
        load_feedback_rules(bad)
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"feedback": {"similarity_treshold": 0.5}}))
    with pytest.raises(PolicyPackError, match="similarity_treshold"):
        load_feedback_rules(typo)
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    assert load_feedback_rules(empty) == FeedbackRules()
    with pytest.raises(PolicyPackError):
        load_feedback_rules("no-such-pack")


def test_review_decision() -> None:
    rules = FeedbackRules()
    assert review_decision(rules, [("cardiomegaly", "absent", "present")], "dr-a", None).effect == "allow"
    assert review_decision(rules, [("pneumothorax", None, "present")], "dr-a", None).effect == "review"
    assert review_decision(rules, [("edema", "absent", "uncertain")], "dr-a", None).effect == "review"
    assert review_decision(rules, [("edema", "absent", "uncertain")], "dr-a", ("dr-a", "radiologist")).effect == "deny"
    assert review_decision(rules, [("edema", "absent", "uncertain")], "dr-a", ("r-1", "researcher")).effect == "deny"
    assert review_decision(rules, [("edema", "absent", "uncertain")], "dr-a", ("dr-b", "radiologist")).effect == "allow"
    assert review_decision(rules.model_copy(update={"review_uncertain": False}), [("edema", "absent", "uncertain")], "dr-a", None).effect == "allow"
