"""The label review queue over HTTP: a correction held for a second reviewer is listed and decided, with real keys.

POST /api/cases/{id}/feedback answers ``needs_review`` for a high-impact finding; the held
correction shows in GET /api/feedback/pending and another clinician decides it with
POST /api/feedback/{id}/decision. Wrong callers and bad bodies get the one error shape.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.http.conftest import auth
from tests.http.test_api import assert_error

RISKY = [{"finding": "pneumothorax", "old": None, "new": "present"}]


def _cases_without_pneumothorax(resources: Any, n: int) -> list[str]:
    return [p.case_id for p in resources.store.scroll(limit=200) if "pneumothorax" not in (p.payload.get("labels") or {})][:n]


def _hold(client: TestClient, key: dict[str, str], case_id: str) -> str:
    response = client.post(f"/api/cases/{case_id}/feedback", json={"changes": RISKY, "reason": "apical pneumothorax on review", "run_id": "run-web-9"}, headers=key)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "needs_review" and result["label_version"] is None and any("second reviewer" in r for r in result["reasons"]), result
    return result["event_id"]


def test_a_held_correction_is_listed_and_decided_by_a_second_clinician(client: TestClient, keys: dict[str, str], resources: Any) -> None:
    submitter, reviewer = auth(keys["clinician"]), auth(keys["clinician2"])
    approve_case, reject_case = _cases_without_pneumothorax(resources, 2)
    held = _hold(client, submitter, approve_case)

    assert_error(client.get("/api/feedback/pending"), 401)
    assert_error(client.get("/api/feedback/pending", headers=auth(keys["researcher"])), 403)
    assert_error(client.get("/api/feedback/pending", params={"case_id": "a b"}, headers=reviewer), 422)
    waiting = client.get("/api/feedback/pending", params={"case_id": approve_case}, headers=reviewer)
    assert waiting.status_code == 200, waiting.text
    corrections = waiting.json()["corrections"]
    assert [(c["event_id"], c["user"], c["run_id"]) for c in corrections] == [(held, "dr-h", "run-web-9")]
    assert corrections[0]["changes"] == RISKY and any("high-impact" in w for w in corrections[0]["why"])

    decision = f"/api/feedback/{held}/decision"
    assert_error(client.post(decision, json={"action": "approve"}), 401)
    assert_error(client.post(decision, json={"action": "approve"}, headers=auth(keys["researcher"])), 403)
    refused = assert_error(client.post(decision, json={"action": "approve"}, headers=submitter), 403, "ReviewRefusedError")
    assert "another user" in refused["message"]
    for bad in ({"action": "maybe"}, {"action": "approve", "reviewer": "dr-k"}, {"action": "approve", "note": 3}, {}):
        assert_error(client.post(decision, json=bad, headers=reviewer), 422)
    assert_error(client.post("/api/feedback/fb-0000000000000000/decision", json={"action": "approve"}, headers=reviewer), 404, "ReviewItemNotFoundError")
    assert "pneumothorax" not in client.get(f"/api/cases/{approve_case}", headers=reviewer).json()["labels"]  # nothing changed

    done = client.post(decision, json={"action": "approve", "note": "agree"}, headers=reviewer)
    assert done.status_code == 200, done.text
    outcome = done.json()
    assert (outcome["kind"], outcome["approved"], outcome["reviewer"], outcome["result"]["status"]) == ("correction", True, "dr-k", "applied")
    assert client.get(f"/api/cases/{approve_case}", headers=reviewer).json()["labels"]["pneumothorax"] == "present"
    assert_error(client.post(decision, json={"action": "approve"}, headers=reviewer), 400)

    other = _hold(client, submitter, reject_case)
    rejected = client.post(f"/api/feedback/{other}/decision", json={"action": "reject", "note": "skin fold"}, headers=reviewer)
    assert rejected.status_code == 200 and rejected.json()["approved"] is False and rejected.json()["label_version"] is None, rejected.text
    assert "pneumothorax" not in client.get(f"/api/cases/{reject_case}", headers=reviewer).json()["labels"]
    assert client.get("/api/feedback/pending", headers=reviewer).json()["corrections"] == []
