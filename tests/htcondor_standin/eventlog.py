"""Job event ("user") logs in HTCondor's text format.

Each event is a header line ``NNN (cluster.proc.subproc) YYYY-MM-DD HH:MM:SS text``,
optional body lines, and a ``...`` line. ``htcondor2.JobEventLog`` parses them into
typed events (SubmitEvent, ExecuteEvent, JobHeldEvent, JobReleaseEvent,
JobAbortedEvent, JobTerminatedEvent) and ``condor_wait`` reads them.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
import time

SUBMIT, EXECUTE, EVICTED, ABORTED, TERMINATED, HELD, RELEASED = 0, 1, 4, 9, 5, 12, 13
HOST = "<127.0.0.1:9618?addrs=127.0.0.1-9618&alias=standin>"

_BYTES = (
    "\t0  -  Run Bytes Sent By Job",
    "\t0  -  Run Bytes Received By Job",
    "\t0  -  Total Bytes Sent By Job",
    "\t0  -  Total Bytes Received By Job",
)


def _cpu(seconds):
    seconds = int(round(float(seconds or 0)))
    days, rest = divmod(seconds, 86400)
    return f"{days} {rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def _usage(ad):
    """The usage block of a terminated (or evicted) event, from the job ad: CPU times of
    the run and in total, and the "Partitionable Resources" table (Usage, Request,
    Allocated) that ``htcondor2.JobEventLog`` reads as ``MemoryUsage``, ``DiskUsage``..."""
    ad = ad or {}
    run = f"Usr {_cpu(ad.get('RemoteUserCpu'))}, Sys {_cpu(ad.get('RemoteSysCpu'))}"
    total = (f"Usr {_cpu(ad.get('CumulativeRemoteUserCpu'))}, "
             f"Sys {_cpu(ad.get('CumulativeRemoteSysCpu'))}")
    local = "Usr 0 00:00:00, Sys 0 00:00:00"
    cpus = int(ad.get("RequestCpus") or 1)
    disk, memory = ad.get("RequestDisk"), ad.get("RequestMemory")
    disk = int(disk) if isinstance(disk, (int, float)) else int(ad.get("DiskUsage") or 0)
    memory = int(memory) if isinstance(memory, (int, float)) else 0
    return [
        f"\t\t{run}  -  Run Remote Usage", f"\t\t{local}  -  Run Local Usage",
        f"\t\t{total}  -  Total Remote Usage", f"\t\t{local}  -  Total Local Usage",
        *_BYTES,
        "\tPartitionable Resources :    Usage  Request Allocated",
        f"\t   Cpus                 :          {cpus:>8} {cpus:>9}",
        f"\t   Disk (KB)            : {int(ad.get('DiskUsage') or 0):>8} {disk:>8} {disk:>9}",
        f"\t   Memory (MB)          : {int(ad.get('MemoryUsage') or 0):>8} {memory:>8} {memory:>9}",
    ]
_HEADER = re.compile(r"^(\d{3}) \((\d+)\.(\d+)\.(\d+)\) ")


def format_event(code: int, cluster: int, proc: int, text: str, body=(), when=None) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when or time.time()))
    lines = [f"{code:03d} ({cluster:03d}.{proc:03d}.000) {stamp} {text}"]
    lines.extend(body)
    lines.append("...")
    return "\n".join(lines) + "\n"


def submitted(cluster, proc, notes=None):
    body = [f"    {notes}"] if notes else []
    return format_event(SUBMIT, cluster, proc, f"Job submitted from host: {HOST}", body)


def executing(cluster, proc):
    return format_event(EXECUTE, cluster, proc, f"Job executing on host: {HOST}")


def terminated(cluster, proc, exit_code=None, signal=None, ad=None):
    """The Terminated event (005), with the run's usage read from the job ``ad``."""
    if signal is not None:
        body = [f"\t(0) Abnormal termination (signal {signal})", "\t(0) No core file"]
    else:
        body = [f"\t(1) Normal termination (return value {exit_code})"]
    return format_event(TERMINATED, cluster, proc, "Job terminated.", [*body, *_usage(ad)])


def evicted(cluster, proc, ad=None):
    """The Evicted event (004): the run was vacated and the job goes back to Idle."""
    body = ["\t(0) Job was not checkpointed.", *_usage(ad)[:2], *_BYTES[:2]]
    return format_event(EVICTED, cluster, proc, "Job was evicted.", body)


def held(cluster, proc, reason, code, subcode=0):
    return format_event(
        HELD, cluster, proc, "Job was held.", [f"\t{reason}", f"\tCode {code} Subcode {subcode}"]
    )


def released(cluster, proc, reason):
    return format_event(RELEASED, cluster, proc, "Job was released.", [f"\t{reason}"])


def aborted(cluster, proc, reason):
    return format_event(ABORTED, cluster, proc, "Job was aborted.", [f"\t{reason}"])


def append(path, text: str):
    """Append one event to a log, under an exclusive lock (HTCondor locks its logs too)."""
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        # As the schedd: an unwritable user log is reported, the job goes on.
        print(f"cannot write event to user log {path}: {exc}", file=sys.stderr, flush=True)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def read_events(path):
    """Yield ``(code, cluster, proc)`` for each event header in a log (for condor_wait)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                match = _HEADER.match(line)
                if match:
                    yield int(match.group(1)), int(match.group(2)), int(match.group(3))
    except FileNotFoundError:
        return
