"""Identity is never defaulted into privilege: empty, unknown or missing role or purpose is denied."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from policies.engine import Caller, PolicyDeniedError, PolicyEngine, VerifiedCaller
from policies.packs import load_pack


@pytest.fixture(scope="module", params=["default", "hipaa", "gdpr", "site-example"])
def engine(request: pytest.FixtureRequest) -> PolicyEngine:
    return PolicyEngine(load_pack(request.param))


BAD_CALLERS = [
    (Caller(user="dr", role="", purpose="treatment"), "no role"),
    (Caller(user="dr", role="   ", purpose="treatment"), "no role"),
    (Caller(user="dr", role="clinician", purpose=None), "no purpose"),
    (Caller(user="dr", role="clinician", purpose=""), "no purpose"),
    (Caller(user="", role="clinician", purpose="treatment"), "no user"),
    (Caller(user="dr", role=" clinician", purpose="treatment"), "whitespace"),
    (Caller(user="dr", role="Clinician", purpose="treatment"), "not a valid name"),
    (Caller(user="dr", role="janitor", purpose="treatment"), "not in policy pack"),
    (Caller(user="dr", role="clinician", purpose="marketing"), "not allowed for role"),
]


@pytest.mark.parametrize(("caller", "why"), BAD_CALLERS, ids=[w + str(i) for i, (_, w) in enumerate(BAD_CALLERS)])
def test_bad_identity_is_denied_everywhere(engine: PolicyEngine, caller: Caller, why: str) -> None:
    for decision in (
        engine.check_tool(caller, "policy_check"),
        engine.check_tool(caller, "review"),
        engine.check_table_access(caller, ["reports"], ["findings"]),
        engine.check_relabel(caller, "CXR1"),
        engine.check_output(caller, "No acute disease.", phi_found=False),
    ):
        assert decision.effect == "deny" and why in decision.reason, (decision.rule, decision.reason)
    with pytest.raises(PolicyDeniedError, match=why):
        engine.search_filter_fields(caller)


def test_good_identity_still_allowed(engine: PolicyEngine) -> None:
    assert engine.check_tool(Caller(user="dr", role="clinician", purpose="treatment"), "policy_check").effect == "allow"


def test_role_without_purposes_may_do_nothing() -> None:
    pack = load_pack("default")
    roles = dict(pack.roles) | {"intern": pack.roles["clinician"].model_copy(update={"purposes": []})}
    engine = PolicyEngine(pack.model_copy(update={"roles": roles}))
    decision = engine.check_tool(Caller(user="i", role="intern", purpose="treatment"), "policy_check")
    assert decision.effect == "deny" and "none declared" in decision.reason


def test_verified_caller_refuses_half_identities() -> None:
    ok = VerifiedCaller(user="dr-a", role="clinician", purpose="treatment", site="site-a")
    assert isinstance(ok, Caller) and ok.site == "site-a"
    for bad in (
        {"user": "dr-a", "role": "", "purpose": "treatment"},
        {"user": "dr-a", "role": "clinician"},
        {"user": "dr-a", "role": "clinician", "purpose": " "},
        {"user": "", "role": "clinician", "purpose": "treatment"},
        {"user": "dr-a", "role": "clinician", "purpose": "treatment", "admin": True},
        {"user": "dr-a", "role": 1, "purpose": "treatment"},
        {"user": "dr-a", "role": "clinician", "purpose": "treatment", "site": "Site A"},
    ):
        with pytest.raises(ValidationError):
            VerifiedCaller(**bad)
    with pytest.raises(ValidationError):
        ok.role = "auditor"  # type: ignore[misc]
