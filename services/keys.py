"""API keys: how HTTP, MCP-over-HTTP and LangGraph-server callers prove who they are.

A key maps to one caller (user, role, purpose). Only a SHA-256 of each key is stored
(``SAGE_HOME/keys.json``, mode 0600): the secret is shown once, at creation. Keys are
256-bit random tokens, so a plain hash is enough (no password stretching needed), and a
lookup compares hashes in constant time. Revoked keys stay listed, marked, so the audit log's
key ids keep their meaning.

Managing keys is the pack's ``keys_manage`` action, which a role's ``"*"`` does not grant
(``tools.governed.EXPLICIT_ONLY``): minting a key for any role is administration, not care.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field, computed_field

from core.errors import SageError
from services.base import Caller, ServiceRequest, governed
from tools.resources import Resources

PREFIX = "sk-sage-"
HINT = "ask an administrator (a role with keys_manage, e.g. --role admin --purpose operations)"


class KeyError_(SageError):  # noqa: N801 - "KeyError" is a builtin
    """A key id that does not exist, or a store that cannot be read."""


class KeyRecord(BaseModel):
    """One stored key (never the secret)."""

    id: str
    hash: str = Field(repr=False)
    user: str
    role: str
    purpose: str
    created_at: datetime
    revoked_at: datetime | None = None


class KeyInfo(BaseModel):
    """A key as listed: who it is for, and whether it still works."""

    id: str
    user: str
    role: str
    purpose: str
    created_at: datetime
    revoked: bool


class NewKey(KeyInfo):
    """A key just created: ``secret`` is shown this once and stored nowhere."""

    secret: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def key(self) -> str:
        """The secret again, under the name scripts read from ``keys create --json`` (``{"key": ...}``)."""
        return self.secret


class KeyRequest(ServiceRequest):
    """Who a new key acts for."""

    user: str = Field(min_length=1, max_length=128)
    role: str = Field(min_length=1, max_length=64)
    purpose: str = Field(min_length=1, max_length=64)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class KeyStore:
    """The key file of one installation; every change holds an exclusive ``flock``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> list[KeyRecord]:
        if not self.path.is_file():
            return []
        try:
            return [KeyRecord.model_validate(r) for r in json.loads(self.path.read_text(encoding="utf-8"))["keys"]]
        except (ValueError, KeyError) as exc:
            raise KeyError_(f"the key store {self.path} is unreadable ({type(exc).__name__})", hint="restore it from a backup, or move it away and create keys again") from None

    def _save(self, records: list[KeyRecord]) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"keys": [r.model_dump(mode="json") for r in records]}, fh, indent=1)
        os.replace(tmp, self.path)

    def _locked(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def create(self, user: str, role: str, purpose: str) -> NewKey:
        """Mint a key for a caller; the secret is returned once."""
        secret = PREFIX + secrets.token_urlsafe(32)
        record = KeyRecord(id="key_" + secrets.token_hex(6), hash=_digest(secret), user=user, role=role, purpose=purpose, created_at=datetime.now(UTC))
        fd = self._locked()
        try:
            self._save([*self._load(), record])
        finally:
            os.close(fd)
        return NewKey(**_info(record).model_dump(), secret=secret)

    def revoke(self, key_id: str) -> KeyInfo:
        """Stop a key from working (it stays listed, marked revoked)."""
        fd = self._locked()
        try:
            records = self._load()
            found = next((r for r in records if r.id == key_id), None)
            if found is None:
                raise KeyError_(f"no key {key_id!r}", hint="list them with `sagehealth keys list`")
            if found.revoked_at is None:
                found.revoked_at = datetime.now(UTC)
                self._save(records)
            return _info(found)
        finally:
            os.close(fd)

    def list(self) -> list[KeyInfo]:
        """Every key, newest first."""
        return [_info(r) for r in sorted(self._load(), key=lambda r: r.created_at, reverse=True)]

    def caller(self, secret: str | None) -> tuple[str, Caller] | None:
        """The key id and caller a presented secret belongs to; None for a missing, unknown or revoked key."""
        if not secret or not secret.startswith(PREFIX) or len(secret) > 256:
            return None
        digest = _digest(secret)
        for record in self._load():
            if hmac.compare_digest(record.hash, digest) and record.revoked_at is None:
                return record.id, Caller(user=record.user, role=record.role, purpose=record.purpose)
        return None


def _info(record: KeyRecord) -> KeyInfo:
    return KeyInfo(id=record.id, user=record.user, role=record.role, purpose=record.purpose, created_at=record.created_at, revoked=record.revoked_at is not None)


def store_for(resources: Resources) -> KeyStore:
    """The installation's key store (``SAGE_HOME/keys.json``)."""
    return KeyStore(resources.settings.home / "keys.json")


def create_key(resources: Resources, caller: Caller, request: KeyRequest) -> NewKey:
    """Mint a key for ``request``'s caller; the role must exist in the active pack."""
    if request.role not in resources.policy.pack.roles:
        raise KeyError_(f"role {request.role!r} is not in the active policy pack", hint=f"roles: {', '.join(sorted(resources.policy.pack.roles))}")
    with governed(resources, caller, "keys_create", "keys_manage", resource=request.user, audit_action="keys:create", details={"for_role": request.role, "for_purpose": request.purpose}, hint=HINT):
        return store_for(resources).create(request.user, request.role, request.purpose)


def revoke_key(resources: Resources, caller: Caller, key_id: str) -> KeyInfo:
    """Revoke a key by id."""
    with governed(resources, caller, "keys_revoke", "keys_manage", resource=key_id[:64], audit_action="keys:revoke", hint=HINT):
        return store_for(resources).revoke(key_id)


def list_keys(resources: Resources, caller: Caller) -> list[KeyInfo]:
    """Every key's id, caller and state (never secrets)."""
    with governed(resources, caller, "keys_list", "keys_manage", resource="keys", audit_action="keys:list", hint=HINT):
        return store_for(resources).list()


def authenticate(resources: Resources, secret: str | None) -> Caller | None:
    """The caller of a presented API key, or None (the entry point answers 401)."""
    found = store_for(resources).caller(secret)
    return found[1] if found else None
