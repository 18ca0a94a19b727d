"""HTTP API tests: the real app over a writable copy of the small lakehouse, with real API keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.http.app import create_app
from core.settings import Settings
from services.keys import store_for
from tools.resources import Resources

ROLES = {"clinician": ("dr-h", "clinician", "treatment"), "auditor": ("aud-h", "auditor", "audit"),
         "researcher": ("res-h", "researcher", "research"), "clinician2": ("dr-k", "clinician", "treatment")}


@pytest.fixture(scope="module")
def resources(home_copy: Callable[[Path], Settings], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Resources]:
    found = Resources(home_copy(tmp_path_factory.mktemp("http") / "home"))
    yield found
    found.close()


@pytest.fixture(scope="module")
def keys(resources: Resources) -> dict[str, str]:
    store = store_for(resources)
    return {name: store.create(*who).secret for name, who in ROLES.items()}


@pytest.fixture(scope="module")
def app(resources: Resources) -> FastAPI:
    return create_app(resources, concurrency=2)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as found:
        yield found


def auth(secret: str) -> dict[str, str]:
    return {"x-api-key": secret}


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[str]:
    """The same app behind a real uvicorn server on 127.0.0.1 (a free port), in a thread."""
    import threading
    import time

    import uvicorn

    from tests.servers import free_port

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
