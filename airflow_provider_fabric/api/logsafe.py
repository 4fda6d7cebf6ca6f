"""Keep query strings (which may hold PHI on uploads) out of every log line."""

from __future__ import annotations

import logging
import re

_QUERY = re.compile(r"(\?)[^\s\"']*")


def redact_query(text: str) -> str:
    """Replace every URL query string in ``text`` with ``?<redacted>``.

    :param text: a log message or exception text.
    """
    return _QUERY.sub(r"\1<redacted>", text)


class RedactQueryFilter(logging.Filter):
    """Logging filter that strips query strings from a record before it is written.

    urllib3 logs each request line (``"PUT /projects/1/genomes?genome_label=... HTTP/1.1"``)
    at DEBUG; the genome upload must carry its label and external ID in the
    URL, so without this filter a DEBUG task log would hold PHI.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg = redact_query(message)
            record.args = ()
        return True


def install_log_redaction() -> None:
    """Attach the filter to the loggers of the HTTP clients we use (idempotent)."""
    for name in ("urllib3.connectionpool", "httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryFilter) for f in logger.filters):
            logger.addFilter(RedactQueryFilter())
