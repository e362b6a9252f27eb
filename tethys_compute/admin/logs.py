"""Turn what ``job.get_logs()`` returns into plain sections to show.

Tethys's log dicts map a name to the text, to a callable returning it (read lazily), or to
a nested dict of the same shape (a workflow's nodes). Reading one log may fail (a remote
file gone, an engine down); that log then says so and the others are still shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..functions import call
from ..log_files import LogFile

logger = logging.getLogger("tethys_compute.admin")

#: Characters of one log shown at most; longer logs keep their end (the newest lines).
MAX_LOG_CHARS = 1_000_000
MAX_DEPTH = 8


@dataclass
class LogSection:
    """One named log (``text``) or group of logs (``children``)."""

    title: str
    text: str = ""
    children: list[LogSection] = field(default_factory=list)
    truncated: bool = False
    failed: bool = False


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _section(title, value, depth) -> LogSection:
    if isinstance(value, LogFile):  # a log file: only its end is read
        text, truncated, _size = value.tail(MAX_LOG_CHARS)
        return LogSection(title, text, truncated=truncated)
    if callable(value):
        try:
            value = call(value)
        except Exception as exc:  # noqa: BLE001 - shown in place of this log
            logger.info("Reading log %r failed", title, exc_info=True)
            return LogSection(title, f"This log could not be read: {exc}", failed=True)
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return LogSection(title, "(nested too deeply to show)", failed=True)
        return LogSection(title, children=resolve_logs(value, depth + 1))
    text = _as_text(value)
    if len(text) > MAX_LOG_CHARS:
        return LogSection(title, text[-MAX_LOG_CHARS:], truncated=True)
    return LogSection(title, text)


def resolve_logs(logs, depth=0) -> list[LogSection]:
    """Read every log of a ``get_logs()`` result.

    :param logs: a dict of name -> text, bytes, callable or nested dict (or ``None``).
    :returns: a list of :class:`LogSection` in the dict's order; callables are called
        once, a failing one gives a section with ``failed=True`` and the reason.
    """
    if not logs:
        return []
    if not isinstance(logs, dict):
        return [_section("log", logs, depth)]
    return [_section(str(name), value, depth) for name, value in logs.items()]


def sections_as_dict(sections) -> dict:
    """The sections as a plain nested dict of name -> text (for JSON output)."""
    return {
        s.title: sections_as_dict(s.children) if s.children else s.text for s in sections
    }
