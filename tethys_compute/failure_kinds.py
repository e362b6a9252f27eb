"""Kinds of failed runs, and the engine's own reason for each (DESIGN section 3).

Every failed run of a job is classified from the engine's own codes, never from message
text: HTCondor's ``HoldReasonCode``/``HoldReasonSubCode`` and ``ExitCode``/``ExitSignal``
(HTCondor manual, "Job ClassAd Attributes"), Dask's task state and exception type
(``distributed``'s ``KilledWorker``, worker memory limits). Engine adapters build a
:class:`Failure` and hand it to the job; the job's retry policy decides whether another
attempt follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: A non-zero exit code or signal, or an exception raised by the task.
EXIT = "exit"
#: Over the memory it asked for: HTCondor's policy hold for ``request_memory``, a Dask
#: worker killed by its nanny for memory.
MEMORY = "memory"
#: Over ``max_run_time`` (HTCondor's ``allowed_execute_duration``; the monitor elsewhere).
WALLTIME = "walltime"
#: The run was evicted (vacated/preempted) from its machine.
EVICTED = "evicted"
#: The machine or worker running it was lost (Dask ``KilledWorker``, a lost worker; a
#: BasicJob whose reporter went silent).
LOST = "lost"
#: An input or output file transfer failed.
TRANSFER = "transfer"
#: The engine refused the job (a bad submit description, a scheduler that rejected it).
ENGINE = "engine"

#: ``(kind, display name)`` pairs, for a model field's ``choices``.
FAILURE_KINDS = (
    (EXIT, "Exited with an error"),
    (MEMORY, "Out of memory"),
    (WALLTIME, "Over its run time"),
    (EVICTED, "Evicted"),
    (LOST, "Lost"),
    (TRANSFER, "File transfer failed"),
    (ENGINE, "Refused by the engine"),
)
KIND_NAMES = dict(FAILURE_KINDS)

#: Kinds retried by default when a job allows more than one attempt; ``exit`` only when
#: the app asks for it.
DEFAULT_RETRYABLE = frozenset({EVICTED, LOST, MEMORY, TRANSFER})


@dataclass(frozen=True)
class Failure:
    """One failed run, as its engine reported it.

    :ivar kind: one of the kinds above (``"memory"``, ...).
    :ivar message: one line for people, e.g. ``"held for exceeding its memory request
        (asked 2048 MB, used 2311 MB)"``.
    :ivar details: the engine's own reason, JSON-serialisable, with whichever of these
        keys the engine gave: ``hold_reason_code``, ``hold_reason_subcode``,
        ``hold_reason`` (HTCondor), ``exit_code``, ``exit_signal``, ``exception_type``,
        ``exception`` (Dask), ``memory_requested_mb``, ``memory_used_mb``,
        ``run_seconds``.
    """

    kind: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KIND_NAMES:
            raise ValueError(
                f"unknown failure kind {self.kind!r}; expected one of {sorted(KIND_NAMES)}"
            )

    def as_dict(self) -> dict[str, Any]:
        """``{"kind": ..., "message": ..., **details}``, as stored on the job."""
        return {"kind": self.kind, "message": self.message, **self.details}
