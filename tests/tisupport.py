"""A stand-in task instance for running an operator's ``execute()`` outside Airflow.

Imported by name (``from tisupport import RecordingTI``): ``tests/`` is on the
path because it holds the root ``conftest.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


class RecordingTI:
    """Just enough of a task instance: XCom pushes kept for the test, pulls answered, a start time.

    :param returns: ``task_id -> return value`` of earlier tasks, for ``xcom_pull``.
    :param start_date: when this try started (sensors measure ``execution_timeout`` from it).
    """

    def __init__(self, returns: dict[str, Any] | None = None, start_date: datetime | None = None) -> None:
        self.pushed: dict[str, Any] = {}
        self.returns = returns if returns is not None else {}
        self.start_date = start_date or datetime.now(UTC)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.returns[task_ids]
