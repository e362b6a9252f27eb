"""The built-in jobs table actions: when each applies, and what it does.

Keys, labels, confirmation texts and the default list are Tethys's. Each action applies
only to the statuses Tethys gives it *and* only to job types that can do it (a job class
that does not implement ``pause`` never offers Pause). Status categories are read from
the job's own class, so custom statuses registered on one job class count only for it.
"""

from __future__ import annotations

from dataclasses import dataclass

SEPARATOR = "|"

DEFAULT_ACTIONS = ["run", "resubmit", SEPARATOR, "logs", "monitor", "results", SEPARATOR,
                   "terminate", "delete"]

# Job methods known to raise "not supported" although the class defines them, by class
# name (the Dask engine cannot hold a task: reference 2.13).
UNSUPPORTED = {"DaskJob": {"pause", "resume"}}


def _base():
    from ..models import TethysJob

    return TethysJob


def supports(job, method: str) -> bool:
    """True when ``job``'s class really implements ``method`` (``stop``, ``pause``,
    ``resume``): it overrides the base class's ``NotImplementedError`` version and is
    not listed as unsupported."""
    klass = type(job)
    for ancestor in klass.__mro__:
        if method in UNSUPPORTED.get(ancestor.__name__, ()):
            return False
    return getattr(klass, method, None) is not getattr(_base(), method)


@dataclass(frozen=True)
class BuiltinAction:
    key: str
    label: str
    kind: str  # "method" (POST), "logs" (dialog), "link" (monitor/results URL)
    method: str | None = None
    confirmation_message: str | None = None
    show_overlay: bool = False
    success_message: str = ""

    def is_enabled(self, job, links=None) -> bool:
        """Whether this action applies to ``job`` in its current (cached) status."""
        status = job.cached_status
        klass = type(job)
        rule = _RULES[self.key]
        return rule(job, status, klass, links or {})


def _run(job, status, klass, links):
    # A Pending job with an execute_time is being submitted by another request.
    return status == "Pending" and job.execute_time is None


def _pause(job, status, klass, links):
    return status in klass.RUNNING_STATUSES and supports(job, "pause")


def _resume(job, status, klass, links):
    return status == "Paused" and supports(job, "resume")


def _resubmit(job, status, klass, links):
    return status in klass.TERMINAL_STATUSES


def _logs(job, status, klass, links):
    return status not in klass.PRE_RUNNING_STATUSES


def _monitor(job, status, klass, links):
    return bool(links.get("monitor")) and status in klass.RUNNING_STATUSES


def _results(job, status, klass, links):
    return bool(links.get("results")) and status in klass.TERMINAL_STATUSES


def _terminate(job, status, klass, links):
    return status in klass.ACTIVE_STATUSES and supports(job, "stop")


def _delete(job, status, klass, links):
    return status not in klass.ACTIVE_STATUSES


_RULES = {
    "run": _run,
    "pause": _pause,
    "resume": _resume,
    "resubmit": _resubmit,
    "logs": _logs,
    "monitor": _monitor,
    "results": _results,
    "terminate": _terminate,
    "delete": _delete,
}

BUILTIN_ACTIONS = {
    "run": BuiltinAction("run", "Run", "method", "execute"),
    "pause": BuiltinAction("pause", "Pause", "method", "pause"),
    "resume": BuiltinAction("resume", "Resume", "method", "resume"),
    "resubmit": BuiltinAction(
        "resubmit", "Resubmit", "method", "resubmit", show_overlay=True,
        success_message="Successfully resubmitted job: {id}.",
    ),
    "logs": BuiltinAction("logs", "View Logs", "logs"),
    "monitor": BuiltinAction("monitor", "Monitor Job", "link"),
    "results": BuiltinAction("results", "View Results", "link"),
    "terminate": BuiltinAction(
        "terminate", "Terminate", "method", "stop",
        confirmation_message="Are you sure you want to terminate this job?", show_overlay=True,
    ),
    "delete": BuiltinAction(
        "delete", "Delete", "method", "delete",
        confirmation_message="Are you sure you want to permanently delete this job?",
        show_overlay=True,
    ),
}


def perform_builtin(action: BuiltinAction, job):
    """Run a built-in state-changing action on ``job``; returns the success message.
    A job type's ``async def`` method is awaited (as Tethys's jobs table does)."""
    from ..functions import call

    if action.method is None:
        raise ValueError(f"The built-in action {action.key!r} calls no job method.")
    call(getattr(job, action.method))
    return action.success_message.format(id=job.pk)
