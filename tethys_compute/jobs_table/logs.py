"""A job's logs for the logs dialog.

``job.get_logs()`` returns ``{name: text}`` where a value may be a nested dict (a
workflow's logs per node: ``{"node_a": {"log": ..., "error": ...}}``) or a callable
returning the text (read lazily, e.g. from a remote submit host; ``async`` allowed).
The dialog first gets the tree of names, with the text of small logs inline; larger or
lazy logs are read one at a time by their key path. Text longer than
``JOBS_TABLE_LOG_MAX_BYTES`` is cut to its last part and offered for download whole.
Each read says the byte ``offset`` it reached, from which the dialog of a running job
follows the log (:mod:`.follow`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..conf import get_config
from ..functions import call
from ..log_files import LogFile, LogNotAvailable, text_from

INLINE_MAX = 16 * 1024


class NoSuchLog(KeyError):
    """The key path does not name a log of the job."""


def as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def tail(text: str, limit: int) -> tuple[str, bool, int]:
    """``(shown, truncated, size)``: the last ``limit`` bytes of ``text`` (cut on a
    character boundary) and the full size in bytes."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, False, len(data)
    return data[-limit:].decode("utf-8", errors="ignore"), True, len(data)


def tree(logs) -> list[dict]:
    """The names of ``logs`` as nested entries: ``{"name", "path", "children"}`` for a
    group, ``{"name", "path", "content", "size"}`` for a small text (at most 16 KiB and
    ``JOBS_TABLE_LOG_MAX_BYTES``), ``{"name", "path", "lazy": true}`` for a callable or
    a larger text."""
    entries: list[dict] = []
    if not isinstance(logs, dict):
        return entries
    inline = min(INLINE_MAX, int(get_config()["JOBS_TABLE_LOG_MAX_BYTES"]))
    stack: list[tuple[dict, list[str], list[dict]]] = [(logs, [], entries)]
    while stack:
        node, prefix, out = stack.pop(0)
        for key, value in node.items():
            path = [*prefix, str(key)]
            if isinstance(value, dict):
                children: list = []
                out.append({"name": str(key), "path": path, "children": children})
                stack.append((value, path, children))
            elif callable(value):
                out.append({"name": str(key), "path": path, "lazy": True})
            else:
                text = as_text(value)
                if len(text.encode("utf-8")) <= inline:
                    out.append({"name": str(key), "path": path, "content": text,
                                "size": len(text.encode("utf-8"))})
                else:
                    out.append({"name": str(key), "path": path, "lazy": True})
    return entries


def leaf(logs, path):
    """The value at ``path`` (a list of keys) as ``get_logs()`` gave it (not called).

    :raises NoSuchLog: if ``path`` does not lead to a log.
    """
    if not isinstance(path, list) or not path or not all(isinstance(p, str) for p in path):
        raise NoSuchLog(path)
    value = logs
    for key in path:
        if not isinstance(value, dict):
            raise NoSuchLog(path)
        matches = [k for k in value if str(k) == key]
        if not matches:
            raise NoSuchLog(path)
        value = value[matches[0]]
    if isinstance(value, dict):
        raise NoSuchLog(path)
    return value


def resolve(logs, path) -> str:
    """The full text of the log at ``path`` (a list of keys), calling it if lazy (a
    :class:`~tethys_compute.log_files.LogFile` gives its last part).

    :raises NoSuchLog: if ``path`` does not lead to a log.
    """
    value = leaf(logs, path)
    if callable(value):
        value = call(value)
    return as_text(value)


def read_from(value, offset, limit) -> dict:
    """What a log (a value of ``get_logs()``) holds after byte ``offset``, as
    :func:`tethys_compute.log_files.read_span` answers it: a log with a ``read_from``
    method (a :class:`~tethys_compute.log_files.LogFile`) is read from the offset by
    seeking; a text (or a callable giving it) is produced whole and sliced here.

    :raises ValueError: for a bad offset.
    """
    if callable(getattr(value, "read_from", None)):
        return value.read_from(offset, limit)
    if callable(value):
        value = call(value)
    return text_from(as_text(value), offset, limit)


def content(logs, path) -> dict:
    """``{"content", "truncated", "size", "offset"}`` of the log at ``path``, cut to
    ``JOBS_TABLE_LOG_MAX_BYTES`` (a log file is read from its end only); ``offset`` is
    where a later read of what is written next starts. A log that cannot be read has the
    reason as its content and ``"unavailable": true``."""
    limit = int(get_config()["JOBS_TABLE_LOG_MAX_BYTES"])
    chunk = read_from(leaf(logs, path), None, limit)
    answer = {"content": chunk["content"], "truncated": chunk["truncated"],
              "size": chunk["size"], "offset": chunk["offset"]}
    if "unavailable" in chunk:
        message = chunk["unavailable"]
        answer.update(content=message, size=len(message.encode("utf-8")), unavailable=True)
    return answer


def download(logs, path):
    """``(bytes or iterator of bytes, size or None)``: the whole log at ``path``; a log
    file is streamed in chunks (its size as it was when opened).

    :raises NoSuchLog: if ``path`` does not lead to a log.
    """
    value = leaf(logs, path)
    if isinstance(value, LogFile):
        try:
            return value.stream()
        except LogNotAvailable as exc:
            data = str(exc).encode("utf-8")
            return data, len(data)
    data = resolve(logs, path).encode("utf-8")
    return data, len(data)


def names(logs) -> str:
    """A short digest of the key paths of every log in ``logs`` (not their text): it
    changes when a log appears or goes, so the dialog knows to reload the list."""
    paths: list[tuple[str, ...]] = []
    stack: list[tuple[tuple[str, ...], Any]] = [((), logs)]
    while stack:
        prefix, node = stack.pop()
        if isinstance(node, dict):
            stack.extend(((*prefix, str(key)), value) for key, value in node.items())
        else:
            paths.append(prefix)
    digest = hashlib.blake2s(json.dumps(sorted(paths)).encode(), digest_size=8)
    return digest.hexdigest() if isinstance(logs, dict) else ""
