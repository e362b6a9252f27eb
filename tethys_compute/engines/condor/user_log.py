"""An HTCondor user log ("job event log") as readable lines: :func:`events_text`.

The user log holds one event per state change of each job of a cluster: a header line
``NNN (cluster.proc.subproc) YYYY-MM-DD HH:MM:SS text``, body lines, then ``...``
(HTCondor manual, "Job Event Log Codes"). :func:`events_text` gives one line per event:
its time, the job (``cluster.proc``) and what happened, with the details people look for
(the host, the exit code or signal, the hold reason and its codes).

Parsed with ``htcondor2.JobEventLog`` (the HTCondor Python bindings) when they are
installed; otherwise with :func:`_text_events`, our reader of the same text format (the
header line, and the body lines of terminated and held events).
"""

from __future__ import annotations

import os
import re
import tempfile

_HEADER = re.compile(
    r"^(\d{3}) \((\d+)\.(\d+)\.\d+\) (\d{4}-\d\d-\d\d|\d\d/\d\d) (\d\d:\d\d:\d\d)(?:\.\d+)?"
    r"(?:[+-]\d\d:?\d\d|Z)? ?(.*)$")

#: What each event code says when no detail is added (HTCondor manual, "Job Event Log
#: Codes").
_NAMES = {
    0: "Submitted", 1: "Executing", 2: "Executable error", 3: "Checkpointed",
    4: "Evicted from its machine", 5: "Terminated", 6: "Image size updated",
    7: "Shadow exception", 9: "Removed", 10: "Suspended", 11: "Unsuspended", 12: "Held",
    13: "Released", 16: "POST script terminated", 21: "Remote error",
    22: "Disconnected from the execute host", 23: "Reconnected to the execute host",
    24: "Reconnection failed", 28: "Job ad information", 33: "Attribute updated",
    35: "Cluster submitted", 36: "Cluster removed", 40: "File transfer",
}


def _bindings():
    try:
        import htcondor2
    except ImportError:
        return None
    return htcondor2


def events_of(log_file, limit: int) -> str:
    """:func:`events_text` of the last ``limit`` bytes of ``log_file`` (a
    :class:`~tethys_compute.log_files.LogFile`), or why it cannot be read."""
    from ...log_files import LogNotAvailable

    try:
        chunks, size = log_file.stream()
    except LogNotAvailable as exc:
        return str(exc)
    kept, total = bytearray(), 0
    for chunk in chunks:  # whole, kept to its last ``limit`` bytes
        kept += chunk
        total += len(chunk)
        if len(kept) > 2 * limit:
            del kept[:len(kept) - limit]
    return events_text(bytes(kept[-limit:]), cut_at_start=total > limit)


def events_text(data: bytes, cut_at_start: bool = False) -> str:
    """One line per event of the user log ``data`` (its bytes), after a header line;
    ``"No events yet."`` when it holds none.

    :param cut_at_start: ``data`` is the end of a longer log: what comes before its first
        whole event is skipped.
    """
    if cut_at_start:
        at = data.find(b"\n...\n")
        data = data[at + 5:] if at >= 0 else b""
    htcondor2 = _bindings()
    events = _bound_events(htcondor2, data) if htcondor2 is not None else None
    if events is None:
        events = _text_events(data.decode("utf-8", errors="replace"))
    if not events:
        return "No events yet."
    lines = [f"{'Time':<19}  {'Job':<8}  Event"]
    lines += [f"{when:<19}  {job:<8}  {what}" for when, job, what in events]
    return "\n".join(lines)


def _bound_events(htcondor2, data):
    """``[(time, "cluster.proc", text)]`` read by ``htcondor2.JobEventLog``, or ``None``
    when the bindings could not read it (our reader is used then)."""
    fd, path = tempfile.mkstemp(prefix="tethys-user-log-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        log = htcondor2.JobEventLog(path)
        try:
            return [(str(event.get("EventTime", "")).replace("T", " ")[:19],
                     f"{event.cluster}.{event.proc}", _describe(int(event.type), event))
                    for event in log.events(0)]
        finally:
            log.close()
    except Exception:  # noqa: BLE001 - a log the bindings refuse is read as text
        return None
    finally:
        os.unlink(path)


def _describe(code, ad) -> str:
    """The text of an event from its attributes (``ad``: a mapping)."""
    name = _NAMES.get(code) or re.sub(r"(?<!^)(?=[A-Z])", " ",
                                      str(ad.get("MyType", "Event")).removesuffix("Event"))
    if code == 0 and ad.get("SubmitHost"):
        return f"Submitted from host {ad['SubmitHost']}"
    if code == 1 and ad.get("ExecuteHost"):
        return f"Executing on host {ad['ExecuteHost']}"
    if code == 5:
        if ad.get("TerminatedNormally") is False or ad.get("TerminatedBySignal") is not None:
            return f"Terminated: killed by signal {ad.get('TerminatedBySignal', '?')}"
        return f"Terminated: exited with code {ad.get('ReturnValue', '?')}"
    if code == 12:
        text = f"Held: {ad.get('HoldReason') or 'no reason given'}"
        if ad.get("HoldReasonCode") is not None:
            text += f" (code {ad['HoldReasonCode']}, subcode {ad.get('HoldReasonSubCode', 0)})"
        return text
    if code in (9, 13) and ad.get("Reason"):
        return f"{name}: {ad['Reason']}"
    if code == 21 and ad.get("ErrorMsg"):
        return f"{name}: {ad['ErrorMsg']}"
    if code == 7 and ad.get("Message"):
        return f"{name}: {ad['Message']}"
    if code == 6 and ad.get("Size") is not None:
        memory = f", memory {ad['MemoryUsage']} MB" if ad.get("MemoryUsage") is not None else ""
        return f"{name}: {ad['Size']} KB{memory}"
    return name


_NORMAL = re.compile(r"\(1\) Normal termination \(return value (-?\d+)\)")
_SIGNAL = re.compile(r"\(0\) Abnormal termination \(signal (\d+)\)")
_CODES = re.compile(r"Code (\d+) Subcode (\d+)")
_HOST = re.compile(r"host: (<[^>]*>)")


def _text_events(text: str):
    """``[(time, "cluster.proc", text)]`` read from the user log's text: the header of
    each event, and the body lines that carry a terminated event's exit code or signal
    and a held event's reason and codes."""
    events: list[tuple[str, str, str]] = []
    current = None
    body: list[str] = []

    def close():
        if current is None:
            return
        code, job, when, rest = current
        ad: dict = {}
        host = _HOST.search(rest)
        if host:
            ad["SubmitHost" if code == 0 else "ExecuteHost"] = host.group(1)
        lines = [line.strip() for line in body if line.strip()]
        if code == 5:
            joined = "\n".join(lines)
            normal = _NORMAL.search(joined)
            signal = _SIGNAL.search(joined)
            if normal:
                ad["ReturnValue"] = int(normal.group(1))
            elif signal:
                ad["TerminatedNormally"], ad["TerminatedBySignal"] = False, int(signal.group(1))
        elif code == 12 and lines:
            ad["HoldReason"] = lines[0]
            codes = _CODES.search("\n".join(lines[1:]))
            if codes:
                ad["HoldReasonCode"], ad["HoldReasonSubCode"] = map(int, codes.groups())
        elif code in (9, 13) and lines:
            ad["Reason"] = lines[0]
        events.append((when, job, _describe(code, ad)))

    for line in text.splitlines():
        if line.strip() == "...":
            close()
            current, body = None, []
            continue
        header = _HEADER.match(line)
        if header and current is None:
            code, cluster, proc, day, clock, rest = header.groups()
            current = (int(code), f"{int(cluster)}.{int(proc)}", f"{day} {clock}", rest)
        elif current is not None:
            body.append(line)
    close()
    return events
