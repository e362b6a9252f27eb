"""The execute-side policy of the stand-in: the holds HTCondor puts on a running job.

HTCondor manual, "Job ClassAd Attributes", table of ``HoldReasonCode`` values
(https://htcondor.readthedocs.io/en/latest/classad-attributes/job-classad-attributes.html):

* 34 ``JobOutOfResources``: "Memory usage exceeds a memory limit". With cgroups the job's
  memory is limited to its ``RequestMemory`` (MB); the kernel stops it at the limit and the
  starter holds it. The stand-in samples the job's memory and holds it (killing it at once,
  as the OOM killer does) when ``MemoryUsage`` exceeds ``RequestMemory``, while it runs or,
  for a job that went over and exited between two samples, when it exits (a hard limit
  would have stopped it).
* 47 ``JobExecuteExceeded``: "The job's allowed execution time was exceeded"
  (``AllowedExecuteDuration``, from ``allowed_execute_duration``: the longest a job may be
  executing, per run).
* 46 ``JobDurationExceeded``: "The job's allowed duration was exceeded"
  (``AllowedJobDuration``, from ``allowed_job_duration``: continuously in the running state).
* 12/13 ``TransferOutputError``/``TransferInputError`` (subcode: the errno) are raised by
  the schedd's file transfer (see :mod:`.schedd`).

Evictions (``condor_vacate_job``, ``condor_vacate``) set ``VacateReasonCode`` from the
manual's "Vacate Reason Codes" table: 1004 ``UserVacateJob``, 1010 ``StartdVacateCommand``.
"""

from __future__ import annotations

from . import classads

JOB_OUT_OF_RESOURCES = 34
JOB_DURATION_EXCEEDED = 46
JOB_EXECUTE_EXCEEDED = 47

USER_VACATE_JOB = 1004
STARTD_VACATE_COMMAND = 1010


class HoldJob(Exception):
    """The job goes on hold with this reason, ``HoldReasonCode`` and ``HoldReasonSubCode``."""

    def __init__(self, reason, code, subcode=0, kill=False):
        super().__init__(reason)
        self.reason, self.code, self.subcode, self.kill = reason, code, subcode, kill


def _number(ad, name):
    value = classads.evaluate(ad, name) if name in ad else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _duration(seconds):
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    return f"{days}+{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def over_memory(ad, memory_mb):
    """The hold for a job whose peak ``memory_mb`` exceeds its ``RequestMemory``, or None."""
    limit = _number(ad, "RequestMemory")
    if limit is None or memory_mb <= limit:
        return None
    return HoldJob(
        f"Error from slot1@standin: Job has gone over cgroup memory limit of {int(limit)} "
        f"megabytes. Last measured usage: {memory_mb} megabytes.  Consider resubmitting "
        "with a higher request_memory.", JOB_OUT_OF_RESOURCES, 0, kill=True)


def over_time(ad, running_seconds):
    """The hold for a job running longer than ``AllowedExecuteDuration`` (or
    ``AllowedJobDuration``) seconds, or None."""
    for name, code, what in (("AllowedExecuteDuration", JOB_EXECUTE_EXCEEDED, "execute"),
                             ("AllowedJobDuration", JOB_DURATION_EXCEEDED, "job")):
        limit = _number(ad, name)
        if limit is not None and running_seconds > limit:
            return HoldJob(f"The job exceeded allowed {what} duration of {_duration(limit)}",
                           code, 0)
    return None


def while_running(ad, usage, running_seconds):
    """The first policy a running job breaks (memory first), or None."""
    return over_memory(ad, usage.memory_mb) or over_time(ad, running_seconds)
