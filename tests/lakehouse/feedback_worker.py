"""Subprocess entry for the feedback multi-process tests: one correction (or a recovery) in its own process.

Usage: python feedback_worker.py HOME record EVENT_JSON RULES_JSON START_AT
       python feedback_worker.py HOME decide ITEM_ID REVIEWER_JSON approve|reject
       python feedback_worker.py HOME recover
Prints one JSON line (the result). The Qdrant Edge shard is opened inside the apply lock and
released before it (``release_store=True``), so processes take turns on one SAGE_HOME.
"""

from __future__ import annotations

import json
import sys
import time

from core.settings import Settings
from lakehouse.feedback import Clinician, FeedbackEvent, decide_item, record_feedback, recover
from policies.audit import AuditLog
from policies.feedback_rules import FeedbackRules


def main() -> None:
    settings = Settings(home=sys.argv[1])
    audit = AuditLog(settings.audit_path)
    if sys.argv[2] == "recover":
        print(json.dumps({"replayed": recover(settings, audit=audit, release_store=True)}), flush=True)
        return
    if sys.argv[2] == "decide":
        reviewer = Clinician.model_validate_json(sys.argv[4])
        print(decide_item(settings, sys.argv[3], reviewer, sys.argv[5] == "approve", audit=audit, release_store=True).model_dump_json(), flush=True)
        return
    event = FeedbackEvent.model_validate_json(sys.argv[3])
    rules = FeedbackRules.model_validate_json(sys.argv[4])
    start_at = float(sys.argv[5])
    time.sleep(max(0.0, start_at - time.time()))  # both workers submit at the same moment
    result = record_feedback(settings, event, audit=audit, rules=rules, release_store=True)
    print(result.model_dump_json(), flush=True)


if __name__ == "__main__":
    main()
