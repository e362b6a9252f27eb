"""Measuring what a running job uses, as HTCondor's starter does for the job ad.

HTCondor manual, "Job ClassAd Attributes"
(https://htcondor.readthedocs.io/en/latest/classad-attributes/job-classad-attributes.html):

* ``ResidentSetSize``: maximum observed physical memory in use by the job, in KiB;
* ``MemoryUsage``: the peak memory usage in MB (compared with ``request_memory`` by policy);
* ``RemoteUserCpu``/``RemoteSysCpu``: user/system CPU seconds of the run (not of runs that
  were evicted; ``CumulativeRemoteUserCpu``/``CumulativeRemoteSysCpu`` sum every run);
* ``RemoteWallClockTime``: cumulative seconds the job was allocated a machine (not reset
  by an eviction); ``LastRemoteWallClockTime``: the last finished run's;
* ``DiskUsage``: KiB used in the job's execute (scratch) directory.

A job is every process of its session (the schedd starts each job in a new session, as
the starter gives each job its own process group/cgroup). While it runs, the processes are
sampled from ``/proc``; when it exits, ``wait4``'s resource usage (which includes every
descendant the job waited for) gives the exact peak and CPU times.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Usage:
    """One run's usage so far (peaks and CPU only grow)."""

    rss_kb: int = 0
    user_cpu: float = 0.0
    sys_cpu: float = 0.0
    disk_kb: int = 0

    def sample(self, session_id, scratch):
        """Add one ``/proc`` sample of the session's processes and the scratch size."""
        rss, user, system = _session(session_id)
        self.rss_kb = max(self.rss_kb, rss)
        self.user_cpu = max(self.user_cpu, user)
        self.sys_cpu = max(self.sys_cpu, system)
        self.disk_kb = max(self.disk_kb, directory_kb(scratch))

    def exited(self, rusage, scratch):
        """Fold in ``wait4``'s resource usage of the job's top process (``ru_maxrss`` is
        in KiB on Linux) and the scratch directory's final size."""
        if rusage is not None:
            self.rss_kb = max(self.rss_kb, int(rusage.ru_maxrss))
            self.user_cpu = max(self.user_cpu, float(rusage.ru_utime))
            self.sys_cpu = max(self.sys_cpu, float(rusage.ru_stime))
        self.disk_kb = max(self.disk_kb, directory_kb(scratch))

    @property
    def memory_mb(self):
        """``MemoryUsage``: the peak in MB, rounded up (as ``(ResidentSetSize + 1023) / 1024``)."""
        return -(-self.rss_kb // 1024)

    def attributes(self):
        """The run's attributes for the job ad (without the wall clock ones)."""
        return {
            "ResidentSetSize": self.rss_kb,
            "MemoryUsage": self.memory_mb,
            "RemoteUserCpu": round(self.user_cpu, 2),
            "RemoteSysCpu": round(self.sys_cpu, 2),
            "DiskUsage": self.disk_kb,
        }


def _session(session_id):
    """``(rss KiB, user s, system s)`` summed over the live processes of a session; CPU
    includes the children they already waited for (``cutime``/``cstime``)."""
    rss = user = system = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) != session_id or fields[0] == "Z":
            continue
        user += int(fields[11]) + int(fields[13])
        system += int(fields[12]) + int(fields[14])
        rss += int(fields[21]) * _PAGE_KB
    return rss, user / _TICKS, system / _TICKS


def directory_kb(path):
    """KiB used by the files under ``path`` (as ``du``: allocated blocks)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total // 1024


def reap(popen):
    """``wait4`` the job's process without blocking; returns its ``rusage`` once it exited
    (and sets ``popen.returncode``), else ``None``."""
    if popen.returncode is not None:
        return None
    try:
        pid, status, rusage = os.wait4(popen.pid, os.WNOHANG)
    except ChildProcessError:
        popen.poll()
        return None
    if pid == 0:
        return None
    popen.returncode = os.waitstatus_to_exitcode(status)
    return rusage
