"""The HTTP API against the real app and the small lakehouse: auth, runs, SSE, chat, reviews, search, traces.

Fast paths only (the interactions task and chat turns routed to it call no generative model),
so every assertion is about real behaviour of the real services behind the routes.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.http.conftest import auth

INTERACTIONS = {"task": "interactions", "input": {"proposed": "aspirin", "current": ["warfarin"]}}


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse an SSE body into (event, data) pairs."""
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
    return found


def assert_error(response: Any, status: int, kind: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and {"type", "message", "hint"} <= set(body["error"]) and body["error"]["message"]
    if kind:
        assert body["error"]["type"] == kind, body
    return body["error"]


def test_missing_or_bad_keys_are_401_and_denied_roles_403(client: TestClient, keys: dict[str, str]) -> None:
    search = {"text": "enlarged heart", "k": 2}
    assert client.post("/api/search", json=search).status_code == 401
    assert_error(client.post("/api/search", json=search), 401, "AuthenticationError")
    assert_error(client.post("/api/search", json=search, headers=auth("sk-sage-not-a-key")), 401)
    assert_error(client.post("/api/search", json=search, headers={"Authorization": "Bearer sk-sage-wrong"}), 401)
    assert client.post("/api/search", json=search, headers={"Authorization": f"Bearer {keys['clinician']}"}).status_code == 200
    denied = assert_error(client.post("/api/search", json=search, headers=auth(keys["auditor"])), 403, "ToolDeniedError")
    assert "auditor" in denied["message"]
    assert_error(client.get("/api/reviews", headers=auth(keys["researcher"])), 403)


def test_a_run_waits_for_its_result_and_streams_its_events(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post("/api/runs?wait=true", json=INTERACTIONS, headers=auth(keys["clinician"]))
    assert response.status_code == 200, response.text
    state = response.json()
    assert state["status"] == "done" and state["result"]["status"] == "done" and state["result"]["output"]
    with client.stream("GET", f"/api/runs/{state['id']}/events", headers=auth(keys["clinician"])) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        got = events(stream.read().decode())
    kinds = [e for e, _ in got]
    assert kinds[:2] == ["status", "status"] and kinds[-3:] == ["result", "status", "end"], kinds
    spans = [d for e, d in got if e == "span"]
    names = {s["name"] for s in spans}
    assert {"invoke_agent planner", "invoke_agent governance_pre", "execute_tool check_interactions"} <= names, names
    assert any(s["attributes"].get("sage.policy.effect") == "allow" for s in spans) and all(s["duration_ms"] >= 0 for s in spans)
    assert got[-3][1]["run_id"] == state["result"]["run_id"]
    # the trace, as JSON, and the result read back later
    trace = client.get(f"/api/traces/{state['result']['run_id']}", headers=auth(keys["clinician"]))
    assert trace.status_code == 200 and any(s["name"] == "invoke_workflow clinical" for s in trace.json())
    again = client.get(f"/api/runs/{state['id']}", headers=auth(keys["clinician"])).json()
    assert again["result"]["run_id"] == state["result"]["run_id"]
    # someone without the review right may not read another caller's run
    assert_error(client.get(f"/api/runs/{state['id']}", headers=auth(keys["researcher"])), 403)


def test_a_denied_run_is_403_and_unknown_tasks_or_inputs_fail_before_queueing(client: TestClient, keys: dict[str, str]) -> None:
    denied = assert_error(client.post("/api/runs?wait=true", json=INTERACTIONS, headers=auth(keys["auditor"])), 403, "RunDenied")
    assert "auditor" in denied["message"] or "may not" in denied["message"]
    assert_error(client.post("/api/runs", json={"task": "astrology", "input": {}}, headers=auth(keys["clinician"])), 404, "UnknownTaskError")
    bad = assert_error(client.post("/api/runs", json={"task": "interactions", "input": {"proposed": 3}}, headers=auth(keys["clinician"])), 400, "TaskInputError")
    assert "proposed" in bad["message"]


def test_requests_are_strict_and_errors_have_one_shape(client: TestClient, keys: dict[str, str]) -> None:
    key = auth(keys["clinician"])
    k = assert_error(client.post("/api/search", json={"text": "heart", "k": "3"}, headers=key), 422, "RequestValidationError")
    assert k["message"].startswith("k:") and "integer" in k["message"]
    temp = assert_error(client.post("/v1/chat/completions", json={"model": "sagehealth-agent", "messages": [{"role": "user", "content": "hi"}], "temperature": False},
                                    headers=key), 422)
    assert "temperature" in temp["message"]
    assert "patient" in assert_error(client.post("/api/search", json={"text": "x", "patient": "p1"}, headers=key), 422)["message"]
    assert_error(client.post("/api/search", content=b"{not json", headers={**key, "content-type": "application/json"}), 422)
    assert_error(client.post("/api/runs", json={**INTERACTIONS, "thread_id": "bad id!"}, headers=key), 422)
    assert_error(client.get("/api/runs/no-such-thread", headers=key), 404, "RunNotFoundError")
    assert_error(client.get("/api/nowhere", headers=key), 404)


def test_search_hits_open_as_deidentified_cases(client: TestClient, keys: dict[str, str]) -> None:
    found = client.post("/api/search", json={"text": "enlarged heart, small effusion", "k": 3}, headers=auth(keys["clinician"]))
    hits = found.json()["hits"]
    assert found.status_code == 200 and len(hits) == 3 and hits[0]["score"] >= hits[-1]["score"]
    case = client.get(f"/api/cases/{hits[0]['case_id']}", headers=auth(keys["clinician"]))
    assert case.status_code == 200 and case.json()["case_id"] == hits[0]["case_id"] and case.json()["findings"]
    assert_error(client.get(f"/api/cases/{hits[0]['case_id']}", headers=auth(keys["auditor"])), 403)
    assert_error(client.get("/api/cases/NOPE-0", headers=auth(keys["clinician"])), 404, "CaseNotFoundError")


def test_chat_streams_deltas_then_the_reply_and_threads_belong_to_their_caller(client: TestClient, keys: dict[str, str]) -> None:
    body = {"message": "is aspirin safe with warfarin?", "thread_id": "http-chat-1"}
    response = client.post("/api/chat", json=body, headers=auth(keys["clinician"]))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    got = events(response.text)
    deltas = "".join(d["text"] for e, d in got if e == "delta")
    result = next(d for e, d in got if e == "result")
    assert result["task"] == "interactions" and result["status"] == "done" and deltas.strip() and deltas.strip() in result["text"]
    # a caller without the review right may not post on (and so read) someone else's thread
    assert_error(client.post("/api/chat", json={**body, "message": "what did I ask?"}, headers=auth(keys["researcher"])), 403)
    plain = client.post("/api/chat", json={**body, "stream": False, "message": "and with ibuprofen?"}, headers=auth(keys["clinician"]))
    assert plain.status_code == 200 and plain.json()["thread_id"] == "http-chat-1" and plain.json()["turns"] > result["turns"]


def test_reviews_list_and_unknown_review_answers(client: TestClient, keys: dict[str, str]) -> None:
    listed = client.get("/api/reviews", headers=auth(keys["clinician"]))
    assert listed.status_code == 200 and isinstance(listed.json(), list)
    assert_error(client.post("/api/reviews/no-such-thread", json={"action": "approve"}, headers=auth(keys["clinician"])), 404)
    assert_error(client.post("/api/reviews/t1", json={"action": "maybe"}, headers=auth(keys["clinician"])), 422)


def test_health_and_openapi_declare_every_status(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["concurrency"] == 2 and "interactions" in health["tasks"]
    spec = client.get("/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert {"422", "503"} <= codes, (method, path, codes)
            if path != "/healthz":
                assert "401" in codes, (method, path)
            assert "500" not in codes
            err = op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
            assert err.endswith("/ErrorBody"), (path, err)
    assert {"/api/runs", "/api/runs/{thread_id}/events", "/api/chat", "/api/reviews", "/api/search", "/api/traces/{run_id}", "/v1/chat/completions", "/v1/models"} <= set(spec["paths"])


def test_the_web_page_is_served_with_its_script_and_accessible_controls(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    for ref in ("/static/app.js", "/static/style.css", 'aria-live="polite"', 'role="tablist"', '<label for="chat-input">', '<label for="draft-findings">'):
        assert ref in html, ref
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "/api/chat" in script.text and "/api/reviews/" in script.text and "/api/traces/" in script.text
    assert client.get("/static/style.css").status_code == 200


BAD_BODIES: list[Any] = [None, [], "x", 123, {}, {"unexpected": 1}, {"text": None, "message": 5, "task": [], "model": False, "action": 1}]


def test_malformed_bodies_get_declared_4xx_codes_never_a_server_error(client: TestClient, keys: dict[str, str]) -> None:
    spec = client.get("/openapi.json").json()
    posts = [(path, set(item["post"]["responses"])) for path, item in spec["paths"].items() if "post" in item]
    assert len(posts) >= 5
    for path, declared in posts:
        concrete = path.replace("{thread_id}", "fuzz-thread")
        for body in BAD_BODIES:
            response = client.post(concrete, content=json.dumps(body), headers={**auth(keys["clinician"]), "content-type": "application/json"})
            assert str(response.status_code) in declared and 400 <= response.status_code < 500, (path, body, response.status_code, response.text)
            assert set(response.json()) == {"error"}


UNCERTAIN_FINDINGS = "Possible small right pleural effusion. Heart size normal."


def test_the_report_drafter_end_to_end_findings_in_draft_cases_and_review_reasons_out(client: TestClient, keys: dict[str, str]) -> None:
    """What the web page's report drafter does, over HTTP: a report run, its evidence, its review, the reviewer's answer."""
    key = auth(keys["clinician"])
    response = client.post("/api/runs?wait=true", json={"task": "report", "input": {"findings": UNCERTAIN_FINDINGS}, "thread_id": "http-draft-1"}, headers=key)
    assert response.status_code == 200, response.text
    run = response.json()["result"]
    assert run["task"] == "report" and run["status"] == "review", run["status"]
    assert run["output"]["impression"].strip() and run["output"]["mode"] == "rag"
    cited = [c["case_id"] for c in run["output"]["citations"]]
    assert run["evidence_ids"] and set(cited) <= set(run["evidence_ids"]), (cited, run["evidence_ids"])
    assert any("uncertain" in r and "pleural_effusion" in r for r in run["review"]["reasons"]), run["review"]
    for case_id in run["evidence_ids"]:  # every retrieved case opens, de-identified
        case = client.get(f"/api/cases/{case_id}", headers=key)
        assert case.status_code == 200 and case.json()["case_id"] == case_id and (case.json()["findings"] or case.json()["impression"])
    with client.stream("GET", "/api/runs/http-draft-1/events", headers=key) as stream:
        names = {d["name"] for e, d in events(stream.read().decode()) if e == "span"}
    assert "execute_tool retrieve_similar_cases" in names, names
    queued = {r["thread_id"]: r for r in client.get("/api/reviews", headers=key).json()}
    assert queued["http-draft-1"]["review"]["reasons"] == run["review"]["reasons"]
    done = client.post("/api/reviews/http-draft-1", json={"action": "approve", "note": "agree"}, headers=key)
    assert done.status_code == 200 and done.json()["status"] == "done" and done.json()["run_id"] == run["run_id"], done.text
    assert "http-draft-1" not in {r["thread_id"] for r in client.get("/api/reviews", headers=key).json()}


def test_feedback_corrects_a_case_label_over_http_for_roles_that_may_relabel(client: TestClient, keys: dict[str, str], resources: Any) -> None:
    from policies.audit import AuditLog

    key = auth(keys["clinician"])
    hit = client.post("/api/search", json={"text": "heart size is enlarged, cardiomegaly", "k": 1, "required_findings": {"cardiomegaly": "present"}}, headers=key).json()["hits"][0]
    case_id = hit["case_id"]
    before = client.get(f"/api/cases/{case_id}", headers=key).json()["labels"]
    assert before["cardiomegaly"] == "present"
    body = {"changes": [{"finding": "cardiomegaly", "old": "present", "new": "absent"}], "reason": "heart size normal on review", "run_id": "run-web-1"}
    # a role that may not relabel is refused (and audited), and nothing changes
    assert_error(client.post(f"/api/cases/{case_id}/feedback", json=body, headers=auth(keys["researcher"])), 403)
    assert client.get(f"/api/cases/{case_id}", headers=key).json()["labels"]["cardiomegaly"] == "present"
    response = client.post(f"/api/cases/{case_id}/feedback", json=body, headers=key)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "applied" and result["case_id"] == case_id and result["labels"]["cardiomegaly"] == "absent", result
    assert client.get(f"/api/cases/{case_id}", headers=key).json()["labels"]["cardiomegaly"] == "absent"
    entries = AuditLog(resources.settings.audit_path).entries()
    assert any((e.actor, e.action, e.resource, e.decision, e.run_id) == ("dr-h", "feedback:correct", case_id, "ok", "run-web-1") for e in entries)
    assert any(e.actor == "res-h" and e.decision == "deny" for e in entries)
    # strict bodies: an unknown finding or state, old == new, extra fields are 422; an unknown case is rejected, not applied
    for bad in ({**body, "changes": [{"finding": "gout", "old": None, "new": "present"}]}, {**body, "changes": [{"finding": "edema", "old": "absent", "new": "absent"}]},
                {**body, "changes": [{"finding": "edema", "old": None, "new": "maybe"}]}, {**body, "reviewer": {"user": "x"}}, {**body, "changes": []}):
        assert_error(client.post(f"/api/cases/{case_id}/feedback", json=bad, headers=key), 422)
    unknown = client.post("/api/cases/NOPE-0/feedback", json=body, headers=key)
    assert unknown.status_code == 200 and unknown.json()["status"] == "rejected" and unknown.json()["reasons"], unknown.text
