"""Run one operator's ``execute()`` in this process, as an Airflow worker would, for the crash tests.

``python crash_runner.py module:Class '{"kwarg": ...}'`` prints ``RESULT <json>`` on success.
The tests SIGKILL this process mid-upload or mid-export, then run it again as Airflow's retry would.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


class TaskInstanceXComs:
    """The one part of a task instance the operators use outside Airflow's runner: ``xcom_push``."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def main() -> None:
    module, _, name = sys.argv[1].partition(":")
    operator = getattr(importlib.import_module(module), name)(task_id="crash_test", **json.loads(sys.argv[2]))
    result = operator.execute({"ti": TaskInstanceXComs()})
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
