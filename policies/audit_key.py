"""The audit chain's HMAC key: one random secret in a 0600 file outside ``SAGE_HOME``.

Why outside: anyone who can rewrite ``SAGE_HOME/audit/audit.jsonl`` can recompute a plain hash
chain. With a keyed MAC they also need the key, so it must not sit next to the log (a backup,
a copied home folder or a write-only mount of ``SAGE_HOME`` must not carry it).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import time
from pathlib import Path

from core.errors import SageError

KEY_BYTES = 32


class AuditKeyError(SageError):
    """The audit key cannot be created, read, or is unsafe to use."""


def key_id(key: bytes) -> str:
    """A public name for a key (not the key): tells "wrong key" apart from "altered entry"."""
    return "k:" + hashlib.sha256(b"sage-audit-key-id\n" + key).hexdigest()[:16]


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise AuditKeyError(f"audit key {path} cannot be read: not a regular file", hint="set SAGE_AUDIT_KEY_FILE to the key file")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuditKeyError(
            f"audit key {path} is accessible by group or others (mode {stat.S_IMODE(mode):o})",
            hint=f"chmod 600 {path}: whoever can read the key can forge audit entries",
        )
    for _ in range(20):  # another process may be between create and write
        text = path.read_text(encoding="ascii").strip()
        if text:
            break
        time.sleep(0.05)
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise AuditKeyError(f"audit key {path} is not hex text", hint="restore the key file, or point SAGE_AUDIT_KEY_FILE at the right one") from exc
    if len(key) < KEY_BYTES:
        raise AuditKeyError(f"audit key {path} holds {len(key)} bytes; at least {KEY_BYTES} are needed", hint="restore the original key file")
    return key


def load_or_create_key(path: Path | str, *, create: bool = True) -> bytes:
    """The key in ``path``; with ``create`` a new random key is written (0600) when the file is absent.

    Raises:
        AuditKeyError: the file is unreadable, malformed, readable by others, or absent with
            ``create=False`` (verification must never mint a fresh key: every entry would fail).
    """
    path = Path(path).expanduser()
    try:
        if path.exists():
            return _read(path)
        if not create:
            raise AuditKeyError(f"audit key {path} does not exist", hint="set SAGE_AUDIT_KEY_FILE to the key the log was written with")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # lost a creation race: use the winner's key
            return _read(path)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(KEY_BYTES) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return _read(path)
    except OSError as exc:
        raise AuditKeyError(
            f"audit key {path} cannot be read or created: {exc.strerror or exc}",
            hint="set SAGE_AUDIT_KEY_FILE to a readable file outside SAGE_HOME (owner-only, mode 0600)",
        ) from exc


def ensure_outside(key_path: Path, home: Path) -> None:
    """Refuse a key stored inside ``SAGE_HOME`` (it would travel with the log it protects)."""
    key_abs, home_abs = Path(key_path).expanduser().resolve(), Path(home).expanduser().resolve()
    if key_abs == home_abs or home_abs in key_abs.parents:
        raise AuditKeyError(
            f"audit key {key_abs} is inside SAGE_HOME ({home_abs})",
            hint="keep the key outside SAGE_HOME (default ~/.config/sagehealth/audit.key; setting SAGE_AUDIT_KEY_FILE)",
        )
