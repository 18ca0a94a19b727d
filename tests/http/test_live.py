"""Against a real uvicorn server on 127.0.0.1: the official openai client, a disconnect mid-stream, the queue."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from app.http.app import create_app
from tests.http.conftest import auth
from tools.resources import Resources

INTERACTIONS = {"task": "interactions", "input": {"proposed": "aspirin", "current": ["warfarin"]}}


def test_the_openai_client_talks_to_the_governed_agent(server: str, keys: dict[str, str]) -> None:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=keys["clinician"], max_retries=0)
    assert "sagehealth-agent" in [m.id for m in client.models.list().data]
    plain = client.chat.completions.create(model="sagehealth-agent", messages=[{"role": "user", "content": "is aspirin safe with warfarin?"}],
                                           temperature=0.2, presence_penalty=0.0, user="oai-plain")
    assert len(plain.choices) == 1 and "warfarin" in plain.choices[0].message.content.lower()
    two = client.chat.completions.create(model="sagehealth-agent", messages=[{"role": "user", "content": "is aspirin safe with warfarin?"}], n=2)
    assert [c.index for c in two.choices] == [0, 1] and all(c.message.content for c in two.choices)
    chunks = list(client.chat.completions.create(model="sagehealth-agent", messages=[{"role": "user", "content": "is aspirin safe with warfarin?"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) >= 3 and "warfarin" in text.lower() and chunks[-1].choices[0].finish_reason == "stop"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server}/v1", api_key="sk-sage-wrong", max_retries=0).models.list()
    with pytest.raises(openai.UnprocessableEntityError, match="less than or equal to 4"):  # n is bounded, and the limit is named
        client.chat.completions.create(model="sagehealth-agent", messages=[{"role": "user", "content": "hi"}], n=9)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])


def test_a_run_survives_its_client_disconnecting(server: str, keys: dict[str, str]) -> None:
    headers = auth(keys["clinician"])
    with httpx.Client(base_url=server, headers=headers, timeout=60) as http:
        started = http.post("/api/runs", json={**INTERACTIONS, "thread_id": "http-disconnect"})
        assert started.status_code == 202 and started.json()["status"] in ("queued", "running")
        with http.stream("GET", "/api/runs/http-disconnect/events") as stream:
            first = next(stream.iter_lines())
            assert first.startswith(("id:", "event:"))
        # the stream is closed mid-run; the run goes on and its result stays readable
        deadline = time.monotonic() + 120
        state = http.get("/api/runs/http-disconnect").json()
        while state["status"] not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
            state = http.get("/api/runs/http-disconnect").json()
        assert state["status"] == "done" and state["result"]["status"] == "done", state
        replay = http.get("/api/runs/http-disconnect/events").text
        assert "event: result" in replay and replay.rstrip().endswith('{"status":"done"}')


def test_runs_beyond_the_limit_are_queued_with_a_clear_status(resources: Resources, keys: dict[str, str]) -> None:
    with TestClient(create_app(resources, concurrency=1, max_queued=1), raise_server_exceptions=False) as client:
        headers = auth(keys["clinician2"])
        first = client.post("/api/runs", json={**INTERACTIONS, "thread_id": "q-1"}, headers=headers).json()
        second = client.post("/api/runs", json={**INTERACTIONS, "thread_id": "q-2"}, headers=headers).json()
        third = client.post("/api/runs", json={**INTERACTIONS, "thread_id": "q-3"}, headers=headers)
        assert first["status"] in ("queued", "running") and second["status"] == "queued"
        assert third.status_code == 429 and third.json()["error"]["type"] == "QueueFullError"
        assert client.post("/api/runs", json={**INTERACTIONS, "thread_id": "q-2"}, headers=headers).status_code == 409
        assert client.get("/healthz").json()["queued"] >= 1
        for thread in ("q-1", "q-2"):
            with client.stream("GET", f"/api/runs/{thread}/events", headers=headers) as stream:
                assert "event: result" in stream.read().decode()
