"""A property-based run of /openapi.json against the live server (schemathesis): no server error, no undeclared status.

Every operation of the published document gets generated requests (valid and invalid bodies,
paths and parameters) with a real clinician's key, over real HTTP to the app on 127.0.0.1. The
checks: no 5xx (the app answers unexpected failures 503, which counts as a server error here
too) and every status code is one the operation declares. Examples are few and derandomized,
so the run is bounded and the same on every machine; the job queue is kept tiny (one worker,
two queued) so generated runs and chat turns cannot pile up behind the test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from app.http.app import create_app
from tools.resources import Resources

# schemathesis's own strategies draw from `random` (its concern, not this project's).
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
MAX_EXAMPLES = 6
# A valid chat message runs a whole governed turn before the answer ends: fewer of those.
FEWER = {"POST /api/chat": 2}


@pytest.fixture(scope="module")
def app(resources: Resources) -> Iterator[FastAPI]:
    """The app with a one-worker, two-deep queue (overrides the package's ``app``); queued jobs are dropped after."""
    found = create_app(resources, concurrency=1, max_queued=2)
    yield found
    found.state.jobs.close()


def fuzz(schema: schemathesis.BaseSchema, key: str, max_examples: int = MAX_EXAMPLES, timings: dict[str, float] | None = None) -> list[str]:
    """Run each operation's generated cases (valid and invalid), return the failures (operation: what broke)."""
    failures: list[str] = []
    timings = {} if timings is None else timings
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=min(max_examples, FEWER.get(operation.label, max_examples)), deadline=None, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(headers={"x-api-key": key}, checks=[not_a_server_error, status_code_conformance], timeout=120)

            started = time.monotonic()
            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
                pass
            except Exception as exc:  # each operation's first failure, then go on to the next
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:600]}")
            timings[f"{operation.label} ({mode.value})"] = round(time.monotonic() - started, 2)
    return failures


def test_every_operation_answers_declared_codes_and_never_a_server_error(server: str, keys: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    assert len(list(schema.get_all_operations())) >= 12
    failures = fuzz(schema, keys["clinician"])
    assert not failures, "\n\n".join(failures)
