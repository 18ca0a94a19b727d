"""The OpenAI-compatible server on a real socket, spoken to by our OpenAI client and by raw HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from core.settings import Settings
from models.lm.local import LocalChatModel
from models.lm.openai_backend import EndpointUnreachableError, OpenAIChatModel
from models.lm.types import GenerationParams
from models.serve import create_model_server
from models.zoo import ModelZoo
from tests.homes import link_smollm2

XRAY = [{"role": "user", "content": "What is a chest X-ray?"}]
PARAMS = GenerationParams(max_new_tokens=8)


def zoo_with_smollm2(home: Path) -> ModelZoo:
    settings = Settings(home=home, device="cpu", telemetry_exporter="none")
    link_smollm2(settings.models_dir)
    return ModelZoo(settings)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, LocalChatModel]]:
    """(base URL, the server's own chat model): uvicorn in a thread on a free 127.0.0.1 port."""
    zoo = zoo_with_smollm2(tmp_path_factory.mktemp("serve"))
    chat = zoo.chat_model("smollm2-135m")
    assert isinstance(chat, LocalChatModel)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_model_server(zoo, "smollm2-135m"), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "model server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", chat
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def http(served: tuple[str, LocalChatModel]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], timeout=120) as client:
        yield client


def body(**extra: object) -> dict:
    return {"model": "smollm2-135m", "messages": XRAY, "max_tokens": 4, **extra}


def test_client_gets_what_the_local_model_generates(served: tuple[str, LocalChatModel]) -> None:
    url, chat = served
    local = chat.generate(XRAY, PARAMS)
    client = OpenAIChatModel(url, "smollm2-135m")
    remote = client.generate(XRAY, PARAMS)
    assert (remote.text, remote.finish_reason) == (local.text, local.finish_reason)
    assert (remote.input_tokens, remote.output_tokens) == (local.input_tokens, local.output_tokens)
    stream = client.stream(XRAY, PARAMS)
    assert "".join(stream) == local.text
    assert stream.generation is not None and stream.generation.output_tokens == local.output_tokens
    client.close()


def test_sse_framing(http: httpx.Client) -> None:
    with http.stream("POST", "/v1/chat/completions", json=body(stream=True, stream_options={"include_usage": True})) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4


def test_models_and_health(http: httpx.Client) -> None:
    ids = [m["id"] for m in http.get("/v1/models").json()["data"]]
    assert "smollm2-135m" in ids and "minilm-l6" not in ids
    health = http.get("/healthz").json()
    assert health["status"] == "ok" and "smollm2-135m" in health["loaded"]


def test_exactly_n_choices(http: httpx.Client) -> None:
    greedy = http.post("/v1/chat/completions", json=body(n=3)).json()
    assert [c["index"] for c in greedy["choices"]] == [0, 1, 2]
    assert len({c["message"]["content"] for c in greedy["choices"]}) == 1
    sampled = http.post("/v1/chat/completions", json=body(n=2, temperature=1.0, seed=3)).json()
    assert len(sampled["choices"]) == 2 and 2 <= sampled["usage"]["completion_tokens"] <= 8
    assert all(c["finish_reason"] in {"stop", "length"} for c in sampled["choices"])


def test_unused_openai_parameters_are_accepted(http: httpx.Client) -> None:
    extra = {"presence_penalty": 0.5, "frequency_penalty": 0.1, "logprobs": False, "user": "u1", "tools": [], "response_format": {"type": "text"}}
    response = http.post("/v1/chat/completions", json=body(max_tokens=2, **extra))
    assert response.status_code == 200 and len(response.json()["choices"]) == 1


@pytest.mark.parametrize(
    "bad",
    [{"temperature": False}, {"messages": []}, {"n": 0}, {"max_tokens": "5"}, {"max_tokens": 0}, {"stream": "yes"},
     {"messages": [{"role": "doctor", "content": "x"}]}, {"messages": [{"role": "user", "content": 5}]}, {"top_p": 1.5}],
)
def test_wrong_types_are_422(http: httpx.Client, bad: dict) -> None:
    assert http.post("/v1/chat/completions", json=body(**bad)).status_code == 422


def test_unknown_model_or_adapter_is_404_and_long_prompt_400(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", json=body(model="gpt-5"))
    assert response.status_code == 404 and "smollm2-135m" in response.json()["error"]["message"]
    pytest.importorskip("models.adapt.runtime")
    for stream in (False, True):
        response = http.post("/v1/chat/completions", json=body(model="smollm2-135m:no-such-adapter", stream=stream))
        assert response.status_code == 404 and response.json()["error"]["type"] == "UnknownAdapterError"
    long = body(messages=[{"role": "user", "content": "effusion " * 9000}])
    response = http.post("/v1/chat/completions", json=long)
    assert response.status_code == 400 and "8192" in response.json()["error"]["message"]


def test_openapi_declares_error_statuses(http: httpx.Client) -> None:
    responses = http.get("/openapi.json").json()["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert {"200", "400", "404", "422"} <= set(responses)


def test_unreachable_endpoint_names_the_url() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    client = OpenAIChatModel(f"http://127.0.0.1:{port}/v1", "m", timeout=5)
    with pytest.raises(EndpointUnreachableError) as err:
        client.generate(XRAY, PARAMS)
    assert f"127.0.0.1:{port}" in err.value.message and err.value.hint
    with pytest.raises(EndpointUnreachableError):
        list(client.stream(XRAY, PARAMS))
