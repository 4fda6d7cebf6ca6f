"""``[core] hostname_callable`` of the e2e workers: each reports its own name, as separate machines would."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """The worker's name (``FABRIC_E2E_WORKER``), else this machine's FQDN."""
    return os.environ.get("FABRIC_E2E_WORKER") or socket.getfqdn()
