"""A logging filter that keeps status-report tokens out of logs.

tethys_compute never logs a token itself. Web servers do log request lines, and a Tethys
4.6-style reporter sends its token in the query string (``?token=...``). Attach this
filter to the handlers or loggers that write request lines (``django.server`` for
``runserver``, your WSGI/ASGI server's access logger)::

    LOGGING = {
        ...
        "filters": {"redact_tokens": {"()": "tethys_compute.log_filters.RedactStatusTokens"}},
        "handlers": {"console": {..., "filters": ["redact_tokens"]}},
    }

Reporters that send the token in an ``Authorization: Bearer`` header or a POST body keep
it out of request lines in the first place.
"""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    # token=... in a query string or form body
    (re.compile(r"(?i)((?:^|[?&;\s\"'])token=)[^&;\s\"']+"), r"\1[redacted]"),
    # Authorization: Bearer ...
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-:.=+/]+"), r"\1[redacted]"),
)


def redact(text: str) -> str:
    """Return ``text`` with ``token=`` values and bearer credentials replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactStatusTokens(logging.Filter):
    """Rewrite each record's message with tokens replaced by ``[redacted]``; never drops
    a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
