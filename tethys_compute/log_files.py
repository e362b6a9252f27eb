"""Job log files read on demand: confined to the job's directory, never loaded whole.

A :class:`LogFile` is what ``CondorJob.get_logs()`` (and a workflow's) gives for each log:
calling it returns the text, as Tethys's lazy log callables do (at most the last
``CALL_MAX_BYTES``), and the jobs table and the admin use :meth:`LogFile.tail` (the last
part, read by seeking) and :meth:`LogFile.stream` (the whole file, in chunks) so that the
web process's memory does not grow with the log's size.

The confinement rule (docs/security.rst): a log is read only when its path, with every
symlink resolved, lies inside the job's own directory (locally the job's workspace, on a
remote submit host its remote directory). An absolute path, a ``../`` path or a symlink
leading elsewhere makes the log "not available"; the file it names is never opened.
"""

from __future__ import annotations

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

    def stream(self) -> tuple[Iterator[bytes], int]:
        """``(chunks, size)``: the whole log as it was when opened (its size then), in
        chunks of ``CHUNK`` bytes; the file is closed when the iterator ends or is
        closed.

        :raises LogNotAvailable: with the reason the log cannot be read.
        """
        handle, size = self._opener()
        return _chunks(handle, size), size


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
