"""API keys: created by an administrator only, stored hashed, mapped to one caller, revocable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import Settings
from services.base import Caller
from services.keys import KeyRequest, authenticate, create_key, list_keys, revoke_key
from tools.governed import ActionDeniedError
from tools.resources import Resources

ADMIN = Caller(user="root", role="admin", purpose="operations")


@pytest.fixture
def resources(tmp_path: Path) -> Resources:
    return Resources(Settings(home=tmp_path))


def test_a_key_maps_to_its_caller_until_revoked(resources: Resources) -> None:
    key = create_key(resources, ADMIN, KeyRequest(user="dr-lee", role="clinician", purpose="treatment"))
    assert authenticate(resources, key.secret) == Caller(user="dr-lee", role="clinician", purpose="treatment")
    stored = (resources.settings.home / "keys.json").read_text()
    assert key.secret not in stored and json.loads(stored)["keys"][0]["hash"], "only a hash is stored"
    assert (resources.settings.home / "keys.json").stat().st_mode & 0o077 == 0, "the file is private"
    assert [k.id for k in list_keys(resources, ADMIN)] == [key.id]

    revoke_key(resources, ADMIN, key.id)
    assert authenticate(resources, key.secret) is None and list_keys(resources, ADMIN)[0].revoked
    for bad in (None, "", "sk-sage-wrong", key.secret + "x", "x" * 1000):
        assert authenticate(resources, bad) is None


def test_only_an_explicit_keys_manage_right_creates_keys(resources: Resources) -> None:
    clinician = Caller(user="dr-x", role="clinician", purpose="treatment")  # has "*", but not keys_manage by name
    with pytest.raises(ActionDeniedError, match="by name"):
        create_key(resources, clinician, KeyRequest(user="dr-x", role="admin", purpose="operations"))
    with pytest.raises(Exception, match="not in the active policy pack"):
        create_key(resources, ADMIN, KeyRequest(user="u", role="superuser", purpose="operations"))
    denied = [e for e in resources.audit.entries() if e.action == "keys:create"]
    assert [(e.actor, e.decision) for e in denied] == [("dr-x", "deny")]
