"""The one retry policy: exponential backoff with jitter, bounded, honouring ``Retry-After``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_random_exponential

from airflow_provider_fabric.api.errors import is_retryable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry transient failures (429, 502/503/504, no answer).

    :param max_attempts: total tries, the first included.
    :param initial_wait: seconds of the first backoff (it doubles each time, with full jitter).
    :param max_wait: longest single wait between tries.
    :param max_total: give up once this many seconds have passed since the first try.
    """

    max_attempts: int = 6
    initial_wait: float = 1.0
    max_wait: float = 60.0
    max_total: float = 300.0

    def tenacity_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``tenacity.Retrying`` or ``tenacity.AsyncRetrying``."""
        backoff = wait_random_exponential(multiplier=self.initial_wait, max=self.max_wait)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            retry_after = getattr(exc, "retry_after", None) or 0.0
            return max(float(retry_after), backoff(state))

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "Fabric request failed (%s); try %d of %d in %.1f s",
                exc,
                state.attempt_number + 1,
                self.max_attempts,
                state.upcoming_sleep,
            )

        return {
            "retry": retry_if_exception(is_retryable),
            "stop": stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_total),
            "wait": wait,
            "before_sleep": before_sleep,
            "reraise": True,
        }

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> RetryPolicy:
        """Read ``retry_limit``/``retry_initial_wait``/``retry_max_wait``/``retry_max_total`` from extras.

        :param extra: the connection's extras.
        """
        base = cls()
        return cls(
            max_attempts=int(extra.get("retry_limit", base.max_attempts)),
            initial_wait=float(extra.get("retry_initial_wait", base.initial_wait)),
            max_wait=float(extra.get("retry_max_wait", base.max_wait)),
            max_total=float(extra.get("retry_max_total", base.max_total)),
        )


NO_RETRY = RetryPolicy(max_attempts=1)
