"""A Dask job's own output: the stdout, stderr and exception its task's function wrote,
captured on the worker (:mod:`tethys_compute.engines.dask.capture`) and stored with the
job when it ends, so that they outlive the scheduler and the web process.

Stored in the job's directory, per task key (one per run):
``<workspace>/dask_output/<key>/`` holds ``stdout.head``, ``stdout.tail``,
``stderr.head``, ``stderr.tail`` (the kept bytes: each stream keeps its first and last
``TETHYS_COMPUTE["DASK_OUTPUT_MAX_BYTES"] / 2`` bytes; an empty part has no file),
``error.json`` (the exception's ``type``, ``message`` and ``traceback``; for a Delayed
or a Future, the scheduler's exception text and traceback) and ``meta.json`` (written
last: the task's final state and each stream's total size). Files are replaced
atomically.

:func:`read_output` reads a stream from a byte offset (for following a running job),
from the worker while the task runs and from the stored files once the job ended.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

from ...conf import get_config
from .dask_job_exception import DaskJobException

logger = logging.getLogger("tethys_compute.dask")

DIRNAME = "dask_output"
STREAMS = ("stdout", "stderr")
#: Bytes :func:`read_output` returns at most per call when no ``limit`` is given.
READ_LIMIT = 64 * 1024


def capture_limit() -> int:
    """``TETHYS_COMPUTE["DASK_OUTPUT_MAX_BYTES"]``: bytes kept per stream (0: no capture)."""
    return max(0, int(get_config()["DASK_OUTPUT_MAX_BYTES"]))


def output_dir(job, key=None) -> Path | None:
    """The directory holding the stored output of ``job``'s task ``key`` (its current
    key by default), or ``None`` when the job has no directory or no key."""
    key = key or job.key
    if not job.workspace or not key:
        return None
    return Path(job.workspace) / DIRNAME / key


def capture_for(job, computation, key) -> int | None:
    """The capture limit to submit ``computation`` under ``key`` with, or ``None`` (no
    capture: it is off, the job has no directory to store it in, or the work is a
    ``Delayed`` or a ``Future``, whose functions run outside the wrapper). A captured
    task's output directory is made now: it marks the task as captured, so that the
    workers are asked for the output of captured tasks only."""
    limit = capture_limit()
    if not limit or not job.workspace or computation.is_delayed or computation.is_future:
        return None
    directory = output_dir(job, key)
    if directory is None:
        return None
    try:  # dask_output/ then its key's directory: two system calls
        os.mkdir(directory.parent)
        os.mkdir(directory)
    except OSError:  # made already, or the job's own directory is gone: made again
        os.makedirs(directory, exist_ok=True)
    return limit


def is_captured(job) -> bool:
    """True when the job's current task was submitted with its output captured."""
    directory = output_dir(job)
    return directory is not None and directory.is_dir()


# --- storing ------------------------------------------------------------------------------
def stored(job) -> dict | None:
    """The stored ``meta.json`` of the job's current task, or ``None``."""
    directory = output_dir(job)
    if directory is None:
        return None
    try:
        return json.loads((directory / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def fetch(job) -> dict | None:
    """The captured output of the job's task from the workers (one ``Client.run``), or
    ``None`` when no worker holds it.

    :raises DaskJobException: the scheduler or workers could not be asked.
    """
    from ...engines.dask import output

    scheduler = job._require_scheduler()
    with scheduler.connection() as client:
        return output.collect(client, [job.key], scheduler.call_timeout).get(job.key)


def keep_output(job, answer) -> dict | None:
    """Store the output of ``job``'s finished task (``answer`` is the scheduler's
    :class:`~.dask_refresh.TaskAnswer`: ``"memory"`` or ``"erred"``) unless it was
    stored already; returns the stored meta. A failure is logged, never raised: the
    job's status does not wait on its logs."""
    directory = output_dir(job)
    if directory is None or answer is None:
        return None
    meta = stored(job)
    if meta is not None:
        record_usage(job, meta)
        return meta
    snapshot, problem, captured = answer.output, None, is_captured(job)
    if snapshot is None and not captured:
        snapshot = {}
    if snapshot is None:
        try:
            snapshot = fetch(job) or {}
        except DaskJobException as exc:
            snapshot, problem = {}, f"The task's output could not be read: {exc}"
    error = snapshot.get("error")
    if answer.state == "erred" and error is None:
        error = {"type": None, "message": answer.exception or _scheduler_text(job),
                 "traceback": answer.traceback or _scheduler_traceback(job)}
    try:
        meta = _write(directory, answer.state, snapshot, error, problem, captured)
    except OSError as exc:
        logger.warning("Job %s: storing the output of task %s failed: %s", job.pk, job.key, exc)
        meta = {"usage": snapshot.get("usage")}
    record_usage(job, meta)
    return meta if "state" in meta else None


def record_usage(job, meta) -> bool:
    """Record the run's usage kept with its output (``meta["usage"]``: the task's wall
    run time and its worker's peak memory, measured by the capture wrapper on the
    worker) through :meth:`~tethys_compute.models.usage.JobUsage.record_usage`; nothing
    when the task was not captured. Writes only on change, with the job's next status
    change (every caller of :func:`keep_output` makes one)."""
    usage = (meta or {}).get("usage")
    if not usage or all(value is None for value in usage.values()):
        return False
    # The task ended: the status change that follows writes the figures with it.
    return job.record_usage(usage, with_next_status=True)


def _scheduler_text(job):
    from .dask_job_status import _read_failure

    try:
        return _read_failure(job)[1] or "an exception (no text available)"
    except DaskJobException as exc:
        return f"(the exception text could not be read: {exc})"


def _scheduler_traceback(job):
    from ...engines.dask import tasks

    scheduler = job._require_scheduler()
    try:
        with scheduler.connection() as client:
            details = tasks.task_details(client, [job.key], scheduler.call_timeout,
                                         limit=capture_limit() or 4000)
    except DaskJobException:
        return None
    return (details.get(job.key) or {}).get("traceback")


def _atomic_write(path: Path, data: bytes):
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _write(directory: Path, state, snapshot, error, problem, captured):
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"state": "finished" if state == "memory" else state, "problem": problem,
            "captured": captured}
    for name in STREAMS:
        stream = snapshot.get(name) or {"head": b"", "tail": b"", "size": 0}
        for part in ("head", "tail"):
            if stream[part]:  # an empty part is not written (it reads as empty)
                _atomic_write(directory / f"{name}.{part}", bytes(stream[part]))
        meta[name] = {"size": int(stream["size"]), "head": len(stream["head"]),
                      "tail": len(stream["tail"])}
    if error is not None:
        _atomic_write(directory / "error.json", json.dumps(error).encode("utf-8"))
    meta["error"] = error is not None
    meta["usage"] = snapshot.get("usage")
    _atomic_write(directory / "meta.json", json.dumps(meta).encode("utf-8"))
    return meta


def stored_error(job) -> dict | None:
    directory = output_dir(job)
    try:
        return json.loads((directory / "error.json").read_text()) if directory else None
    except (OSError, ValueError):
        return None


# --- reading ------------------------------------------------------------------------------
def read_output(job, stream: str, offset: int = 0, limit: int = READ_LIMIT) -> tuple[str, int]:
    """Read the job's task's ``stream`` from byte ``offset``: ``(text, next_offset)``.

    :param job: a :class:`~tethys_compute.models.DaskJob`.
    :param stream: ``"stdout"`` or ``"stderr"``.
    :param offset: a byte offset into the stream as the task wrote it (UTF-8); 0 first,
        then the ``next_offset`` of the previous call.
    :param limit: at most this many bytes are read (int, bytes).
    :returns: ``(text, next_offset)``; ``("", offset)`` when there is nothing new. The
        text never ends inside a character. When bytes from ``offset`` on were not kept
        (the middle of a stream longer than ``DASK_OUTPUT_MAX_BYTES``), the text starts
        with a line ``[... N bytes not kept ...]`` and goes on from the first kept byte.
    :raises ValueError: ``stream`` is not ``"stdout"`` or ``"stderr"``, or ``offset``
        or ``limit`` is negative.
    :raises DaskSchedulerUnavailable: the task runs and its scheduler did not answer
        within its call timeout (try again later).

    Source: ours (Dask keeps no task output); the running task's output is asked of its
    worker with ``Client.run``, the stored output is read from the job's directory.
    """
    if stream not in STREAMS:
        raise ValueError(f'stream must be "stdout" or "stderr", not {stream!r}.')
    offset, limit = int(offset), int(limit)
    if offset < 0 or limit < 0:
        raise ValueError("offset and limit must not be negative.")
    piece = _piece(job, stream, offset, limit)
    if piece is None:
        return "", offset
    return _decode(piece, offset)


def _piece(job, stream, offset, limit, latest=False):
    """``{"size", "start", "data", "finished"}`` read from the stored files or the
    worker (see :func:`.capture.read_live`), or ``None`` when nothing is captured."""
    if not job.key:
        return None
    meta = stored(job)
    if meta is not None:
        piece = _read_stored(output_dir(job), stream, meta[stream], offset, limit, latest)
        piece["finished"] = True
        return piece
    return _read_live(job, stream, offset, limit, latest)


def _read_stored(directory, stream, sizes, offset, limit, latest=False):
    size, head_len, tail_len = sizes["size"], sizes["head"], sizes["tail"]
    tail_start = size - tail_len
    if latest:
        offset = max(offset, size - limit)
    if offset < head_len:
        name, start, at = "head", offset, offset
    else:
        start = max(offset, tail_start)
        name, at = "tail", start - tail_start
    try:
        with open(directory / f"{stream}.{name}", "rb") as handle:
            handle.seek(at)
            data = handle.read(limit)
    except OSError:
        data = b""
    return {"size": size, "start": start, "data": data}


def _read_live(job, stream, offset, limit, latest=False):
    from ...engines.dask import output

    if job.is_terminal or job.scheduler_id is None or not is_captured(job):
        return None
    scheduler = job._require_scheduler()
    with scheduler.connection() as client:
        return output.read_live(client, job.key, stream, offset, limit,
                                scheduler.call_timeout, latest)


def _decode(piece, offset):
    data, start = piece["data"], piece["start"]
    skipped = 0
    if start > offset:  # the bytes from offset were dropped: start at a character
        while skipped < min(3, len(data)) and 0x80 <= data[skipped] <= 0xBF:
            skipped += 1
    data = data[skipped:]
    end = len(data)
    at_stream_end = start + skipped + end >= piece["size"]
    if not (at_stream_end and piece.get("finished")):
        end = _complete_prefix(data)
    text = data[:end].decode("utf-8", errors="replace")
    if start > offset:
        text = f"[... {start - offset} bytes not kept ...]\n" + text
    return text, (start + skipped + end if (end or start > offset) else offset)


def _complete_prefix(data: bytes) -> int:
    """Length of ``data`` without a UTF-8 sequence cut at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # a lead byte: complete if its sequence fits
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= need else len(data) - back
    return len(data)


def stream_text(job, stream, meta=None, snapshot=None) -> str:
    """The kept text of ``stream``: its start, a line saying how many bytes were not
    kept (if any), and its end; from the stored files, or from ``snapshot``."""
    if snapshot is not None:
        kept = snapshot.get(stream) or {"head": b"", "tail": b"", "size": 0}
        head, tail, size = bytes(kept["head"]), bytes(kept["tail"]), kept["size"]
    else:
        directory = output_dir(job)
        try:
            if directory is None:
                raise FileNotFoundError("the job has no directory or no task key")
            kept = meta[stream]
            head = (directory / f"{stream}.head").read_bytes() if kept["head"] else b""
            tail = (directory / f"{stream}.tail").read_bytes() if kept["tail"] else b""
        except OSError as exc:
            return f"The stored {stream} cannot be read: {exc}"
        size = meta[stream]["size"]
    dropped = size - len(head) - len(tail)
    text = head.decode("utf-8", errors="replace")
    if dropped > 0:
        text += f"\n[... {dropped} bytes not kept ...]\n"
    return text + tail.decode("utf-8", errors="replace")


# --- the logs dialog ----------------------------------------------------------------------
class OutputLog:
    """The ``"stdout"`` or ``"stderr"`` value of a Dask job's ``get_logs()``: calling it
    gives the kept text (see :func:`stream_text`; from the worker while the task runs),
    and :meth:`read_from` reads it from a byte offset (the jobs table's follow)."""

    def __init__(self, job, stream):
        self.job = job
        self.stream = stream

    def __repr__(self):
        return f"<OutputLog {self.stream} of job {self.job.pk}>"

    def __call__(self) -> str:
        meta = stored(self.job)
        if meta is not None:
            return stream_text(self.job, self.stream, meta)
        try:
            snapshot = fetch(self.job) if is_captured(self.job) else None
        except DaskJobException as exc:
            return f"The task's {self.stream} cannot be read now: {exc}"
        if snapshot is None:
            return ""
        return stream_text(self.job, self.stream, snapshot=snapshot)

    def read_from(self, offset: int | None, limit: int) -> dict:
        """What the task wrote to the stream after byte ``offset``, answered as
        :func:`tethys_compute.log_files.read_span` does (``content``, ``offset``,
        ``size``, ``skipped``, ``reset``, ``truncated``; ``unavailable`` with the reason
        when the scheduler cannot be asked).

        :raises ValueError: for an offset that is not ``None`` or an int >= 0, or a
            negative limit.
        """
        if offset is not None and (type(offset) is not int or offset < 0):
            raise ValueError(f"A log offset is a whole number of bytes >= 0, not {offset!r}.")
        if type(limit) is not int or limit < 0:
            raise ValueError(f"A log read limit is a whole number of bytes >= 0, not {limit!r}.")
        try:
            piece = _piece(self.job, self.stream, offset or 0, limit, latest=True)
            if piece is not None and offset is not None and offset > piece["size"]:
                offset = None  # the client holds more than the stream: start again
                piece = _piece(self.job, self.stream, 0, limit, latest=True)
        except DaskJobException as exc:
            return {"content": "", "offset": offset or 0, "size": 0, "skipped": 0,
                    "reset": False, "truncated": False, "unavailable": str(exc)}
        reset = offset is None
        if piece is None:
            return {"content": "", "offset": offset or 0, "size": 0, "skipped": 0,
                    "reset": reset, "truncated": False}
        begin = 0 if reset else offset
        data, start = piece["data"], piece["start"]
        cut = 0
        if start > begin:  # the cut may fall inside a character: start at the next one
            while cut < min(3, len(data)) and 0x80 <= data[cut] <= 0xBF:
                cut += 1
        data = data[cut:]
        if not (piece.get("finished") and start + cut + len(data) >= piece["size"]):
            data = data[:_complete_prefix(data)]
        return {"content": data.decode("utf-8", errors="replace"),
                "offset": start + cut + len(data), "size": piece["size"],
                "skipped": 0 if reset else start + cut - begin, "reset": reset,
                "truncated": reset and start + cut > 0}


def output_logs(job) -> dict | None:
    """``{"Task": text, "stdout": text, "stderr": text}`` from the stored output (no
    engine call), or ``None`` when nothing is stored for the job's current task."""
    meta = stored(job)
    if meta is None:
        return None
    lines = [f"Task {job.key}", f"State: {meta['state']} (stored when the job ended)"]
    if meta.get("problem"):
        lines.append(meta["problem"])
    error = stored_error(job) if meta.get("error") else None
    if error:
        lines.append("Exception: " + error_text(error))
        if error.get("traceback"):
            lines.append(f"Traceback:\n{error['traceback']}")
    return {"Task": "\n".join(lines), **output_streams(job)}


def output_streams(job) -> dict:
    """``{"stdout": OutputLog, "stderr": OutputLog}`` for a job whose task's output is
    captured (read when shown), else ``{}``."""
    meta = stored(job)
    if not (meta.get("captured", True) if meta is not None else is_captured(job)):
        return {}
    return {name: OutputLog(job, name) for name in STREAMS}


def error_text(error) -> str:
    """``"Type: message"`` for a captured exception; the scheduler's text otherwise."""
    if error.get("type"):
        return f"{error['type']}: {error.get('message') or ''}".rstrip()
    return str(error.get("message") or "an exception (no text available)")
