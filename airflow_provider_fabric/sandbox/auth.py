"""API users of the sandbox: keys with salted scrypt hashes of their secrets.

Users come from ``--user LOGIN:SECRET[:FLAG...]`` or from the ``users`` list
of the ``--config`` JSON file. Flags: ``noaccess`` (the key is valid but every
request gets 403) and ``workspace=N`` (the key's workspace, default 1).
Secrets are hashed at start and never kept or written in clear. A config file
may give ``secret_hash`` (as printed by ``fabric-sandbox --hash-secret``)
instead of ``secret``.

Checking scrypt on every request would make the sandbox slow, so a
successful check is remembered as an HMAC under a random key that lives
only in this process's memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any

_N, _R, _P = 2**14, 8, 1


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    """A ``scrypt$salt$hash`` string for ``secret`` (base64 parts)."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches a stored ``scrypt$salt$hash`` string."""
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=len(expected))
    return hmac.compare_digest(digest, expected)


@dataclass(frozen=True)
class User:
    """One API user: its key (login), hashed secret, access flag and workspace."""

    login: str
    secret_hash: str
    access: bool = True
    workspace_id: int = 1


def parse_user_spec(spec: str) -> User:
    """Parse ``LOGIN:SECRET[:noaccess][:workspace=N]`` from the command line."""
    parts = spec.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError("--user must look like LOGIN:SECRET[:noaccess][:workspace=N]")
    login, secret, flags = parts[0], parts[1], parts[2:]
    access, workspace = True, 1
    for flag in flags:
        if flag == "noaccess":
            access = False
        elif flag.startswith("workspace="):
            workspace = int(flag.split("=", 1)[1])
        else:
            raise ValueError(f"unknown --user flag {flag!r} (use noaccess or workspace=N)")
    return User(login, hash_secret(secret), access, workspace)


def user_from_config(item: dict[str, Any]) -> User:
    """Build a user from a config-file entry ``{"login", "secret"|"secret_hash", "access", "workspace"}``."""
    login = str(item["login"])
    stored = str(item["secret_hash"]) if "secret_hash" in item else hash_secret(str(item["secret"]))
    return User(login, stored, bool(item.get("access", True)), int(item.get("workspace", 1)))


class Authenticator:
    """Checks HTTP Basic credentials against the configured users."""

    def __init__(self, users: list[User]) -> None:
        self._users = {user.login: user for user in users}
        self._key = os.urandom(32)
        self._verified: set[bytes] = set()

    def authenticate(self, authorization: str | None) -> tuple[int, User | None]:
        """Return ``(200, user)``, ``(401, None)`` for bad credentials or ``(403, user)``."""
        if not authorization or not authorization.lower().startswith("basic "):
            return 401, None
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except ValueError:
            return 401, None
        login, sep, secret = decoded.partition(":")
        user = self._users.get(login)
        if not sep or user is None:
            return 401, None
        token = hmac.new(self._key, decoded.encode("utf-8"), hashlib.sha256).digest()
        if token not in self._verified:
            if not check_secret(secret, user.secret_hash):
                return 401, None
            self._verified.add(token)
        return (200, user) if user.access else (403, user)
