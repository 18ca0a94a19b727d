"""Helpers of the feedback tests: a writable copy of the small lakehouse, and the "pneumonia vs atelectasis" noise."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from lakehouse.feedback import Clinician, import_labels
from lakehouse.semantic import SearchFilter, open_store
from policies.audit import AuditLog
from policies.feedback_rules import FeedbackRules
from tests.homes import copy_home

RULES = FeedbackRules(similarity_threshold=0.7, auto_apply_confidence=0.7)
"""Pack defaults except a lower auto-apply bar, so the 300-case corpus has applied and queued proposals."""
DR_A = Clinician(user="dr-a", role="clinician", purpose="treatment")
DR_B = Clinician(user="dr-b", role="radiologist", purpose="quality")


def writable_copy(source: Settings, target: Path) -> Settings:
    """A private copy of a built SAGE_HOME (the shared one stays read-only)."""
    return Settings(home=copy_home(source.home, target, skip=("feedback", "synthetic")))


def mislabel_atelectasis(settings: Settings, audit: AuditLog) -> list[str]:
    """Make every train case whose report states atelectasis carry "pneumonia present, atelectasis absent".

    This is the paper's example error, injected as an import (its own label version), so the
    corrections have real wrong labels to fix. Returns the mislabelled case ids.
    """
    points = open_store(settings).scroll(SearchFilter(split="train", findings={"atelectasis": "present"}), limit=10_000)
    ids = sorted(p.case_id for p in points)
    import_labels(settings, {c: {"atelectasis": "absent", "pneumonia": "present"} for c in ids}, DR_B, "test noise: atelectasis read as pneumonia", audit=audit)
    return ids
