"""Job log files read on demand: confined to the job's directory, never loaded whole.

A :class:`LogFile` is what ``CondorJob.get_logs()`` (and a workflow's) gives for each log:
calling it returns the text, as Tethys's lazy log callables do (at most the last
``CALL_MAX_BYTES``), and the jobs table and the admin use :meth:`LogFile.tail` (the last
part, read by seeking), :meth:`LogFile.read_from` (what was written after a byte offset,
for following a running job's log) and :meth:`LogFile.stream` (the whole file, in chunks)
so that the web process's memory does not grow with the log's size.

The confinement rule (docs/security.rst): a log is read only when its path, with every
symlink resolved, lies inside the job's own directory (locally the job's workspace, on a
remote submit host its remote directory). An absolute path, a ``../`` path or a symlink
leading elsewhere makes the log "not available"; the file it names is never opened.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Iterator

#: Bytes read from the file per chunk of a download.
CHUNK = 64 * 1024
#: At most this many bytes (the end of the log) are returned by calling a LogFile.
CALL_MAX_BYTES = 4 * 1024 * 1024


class LogNotAvailable(Exception):
    """The log cannot be read; the message says why (it is shown in place of the log)."""


class OutsideDirectory(PermissionError):
    """The path, symlinks resolved, leads outside the directory it must stay in."""


def inside(root: str, target: str, sep: str = os.sep) -> bool:
    """True when ``target`` is ``root`` or below it (both absolute, resolved paths)."""
    root = root.rstrip(sep) or sep
    return target == root or target.startswith(root if root == sep else root + sep)


def open_within(base: str, relative: str):
    """Open the local file ``relative`` (to ``base``) for reading in binary mode, if it
    lies inside ``base`` once every symlink is resolved.

    :returns: ``(file object, size in bytes)``.
    :raises OutsideDirectory: if the path leads outside ``base`` (absolute, ``../`` or a
        symlink pointing elsewhere).
    :raises FileNotFoundError: if it does not exist.
    :raises IsADirectoryError: if it is not a regular file.
    """
    root = os.path.realpath(base)
    target = os.path.realpath(os.path.join(root, relative))
    if not inside(root, target):
        raise OutsideDirectory(relative)
    # O_NOFOLLOW: the resolved path has no symlink left; if one was put in its place
    # since, do not follow it. O_NONBLOCK: opening a FIFO must not hang the request.
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    handle = os.fdopen(fd, "rb")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(relative)
        opened = f"/proc/self/fd/{fd}"
        if os.path.islink(opened) and not inside(root, os.readlink(opened)):
            raise OutsideDirectory(relative)  # a directory on the way was swapped
        return handle, info.st_size
    except BaseException:
        handle.close()
        raise


def listdir_within(base: str, relative: str) -> list[str]:
    """Names in the local directory ``relative`` (to ``base``), if it lies inside
    ``base`` once every symlink is resolved.

    :raises OutsideDirectory: if the directory leads outside ``base``.
    :raises FileNotFoundError: if it does not exist.
    """
    root = os.path.realpath(base)
    target = os.path.realpath(os.path.join(root, relative))
    if not inside(root, target):
        raise OutsideDirectory(relative)
    return os.listdir(target)


def _text(data: bytes, cut: bool) -> str:
    if cut:  # the cut may fall inside a UTF-8 character: start at the next one
        start = 0
        while start < min(3, len(data)) and 0x80 <= data[start] <= 0xBF:
            start += 1
        data = data[start:]
    return data.decode("utf-8", errors="replace")


class LogFile:
    """One log file of a job, opened only when read.

    :param name: the path shown in messages (relative to the job's directory).
    :param opener: a callable returning ``(binary file object, size in bytes)``, or
        raising :class:`LogNotAvailable` with the reason.
    """

    def __init__(self, name: str, opener: Callable[[], tuple]):
        self.name = name
        self._opener = opener

    def __repr__(self):
        return f"<LogFile {self.name}>"

    def __call__(self) -> str:
        """The log's text (its last ``CALL_MAX_BYTES``), or why it cannot be read."""
        return self.tail(CALL_MAX_BYTES)[0]

    def tail(self, limit: int) -> tuple[str, bool, int]:
        """``(text, truncated, size)``: the last ``limit`` bytes of the log (read by
        seeking to them), whether that is less than the whole, and the size in bytes. A
        log that cannot be read gives the reason as its text."""
        try:
            handle, size = self._opener()
        except LogNotAvailable as exc:
            message = str(exc)
            return message, False, len(message.encode("utf-8"))
        try:
            with handle:
                start = max(0, size - max(0, int(limit)))
                handle.seek(start)
                data = _read_up_to(handle, size - start)
        except Exception as exc:  # noqa: BLE001 - a failed read is shown as the log's text
            message = f"There was an error while reading {self.name}: {exc}"
            return message, False, len(message.encode("utf-8"))
        return _text(data, start > 0), start > 0, size

    def read_from(self, offset: int | None, limit: int) -> dict:
        """What was written to the log after byte ``offset`` (at most ``limit`` bytes, by
        seeking), as :func:`read_span` answers it. A log that cannot be read answers no
        content, its ``offset`` kept, and the reason as ``"unavailable"``.

        :raises ValueError: for an offset that is not ``None`` or an int >= 0, or a
            negative limit.
        """
        _check(offset, limit)
        try:
            handle, size = self._opener()
        except LogNotAvailable as exc:
            return {"content": "", "offset": offset or 0, "size": 0, "skipped": 0,
                    "reset": False, "truncated": False, "unavailable": str(exc)}
        with handle:
            return read_span(handle, size, offset, limit)

    def stream(self) -> tuple[Iterator[bytes], int]:
        """``(chunks, size)``: the whole log as it was when opened (its size then), in
        chunks of ``CHUNK`` bytes; the file is closed when the iterator ends or is
        closed.

        :raises LogNotAvailable: with the reason the log cannot be read.
        """
        handle, size = self._opener()
        return _chunks(handle, size), size


def _check(offset, limit):
    if offset is not None and (type(offset) is not int or offset < 0):
        raise ValueError(f"A log offset is a whole number of bytes >= 0, not {offset!r}.")
    if type(limit) is not int or limit < 0:
        raise ValueError(f"A log read limit is a whole number of bytes >= 0, not {limit!r}.")


def _incomplete_end(data: bytes) -> int:
    """How many bytes at the end of ``data`` are the start of a UTF-8 character whose
    other bytes are not written yet (0 to 3)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return 0
        if byte >= 0xC0:  # the lead byte: how long its character is
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return back if back < need else 0
    return 0


def read_span(handle, size: int, offset: int | None, limit: int) -> dict:
    """Read a log from byte ``offset`` to its ``size`` (as it was when opened), seeking to
    it: what a client holding the log up to ``offset`` is missing.

    :param handle: the log, a binary file object that can seek.
    :param size: its size in bytes; nothing past it is read.
    :param offset: where the client's copy ends, or ``None`` for a client holding nothing.
    :param limit: at most this many bytes are read: when more were written since
        ``offset``, only the last ``limit`` are sent and the rest is ``skipped``.
    :returns: ``{"content": text, "offset": where the next read starts, "size": size,
        "skipped": bytes after ``offset`` not sent, "reset": bool, "truncated": bool}``.
        ``reset`` means the content replaces the client's copy: no offset was given, or
        the log is now shorter than it (truncated, or rotated to a new file); the
        content is then the log's last ``limit`` bytes and ``truncated`` says whether
        that is less than the whole. A character is never split: a cut inside one starts
        after it, and a character half written at the end is left for the next read
        (``offset`` stops before it).
    """
    reset = offset is None or offset > size
    begin = 0 if offset is None or reset else offset
    start = max(begin, size - limit)
    handle.seek(start)
    data = _read_up_to(handle, size - start)
    cut = 0
    if start > begin:  # the cut may fall inside a UTF-8 character: start at the next one
        while cut < min(3, len(data)) and 0x80 <= data[cut] <= 0xBF:
            cut += 1
    held = _incomplete_end(data[cut:])
    data = data[cut:len(data) - held]
    return {"content": data.decode("utf-8", errors="replace"),
            "offset": start + cut + len(data), "size": size,
            "skipped": 0 if reset else start + cut - begin,
            "reset": reset, "truncated": reset and start + cut > 0}


def text_from(text: str | bytes, offset: int | None, limit: int) -> dict:
    """:func:`read_span` of a log given as text (its UTF-8 bytes are the offsets).

    :raises ValueError: as :meth:`LogFile.read_from`.
    """
    _check(offset, limit)
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return read_span(io.BytesIO(data), len(data), offset, limit)


def _read_up_to(handle, count: int) -> bytes:
    parts, left = [], count
    while left > 0:
        data = handle.read(min(left, CHUNK))
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


def _chunks(handle, size: int) -> Iterator[bytes]:
    try:
        left = size
        while left > 0:
            data = handle.read(min(left, CHUNK))
            if not data:
                break
            left -= len(data)
            yield data
    finally:
        handle.close()
