"""Why an HTCondor run failed, from HTCondor's own codes (never from message text).

Source: HTCondor manual, "Job ClassAd Attributes"
(https://htcondor.readthedocs.io/en/latest/classad-attributes/job-classad-attributes.html):
the table of ``HoldReasonCode`` values (with ``HoldReasonSubCode``), ``ExitCode``,
``ExitBySignal``/``ExitSignal``, ``MemoryUsage`` (MB, peak) and ``RequestMemory`` (MiB);
and its "Vacate Reason Codes" table (``VacateReasonCode``) for evictions.

==================================================  ===========================
HoldReasonCode (label)                              failure kind
==================================================  ===========================
34 JobOutOfResources ("Memory usage exceeds a       ``memory``
memory limit")
46 JobDurationExceeded, 47 JobExecuteExceeded       ``walltime``
(``allowed_job_duration``,
``allowed_execute_duration``)
11/18 transfer protocol errors, 12                  ``transfer``
TransferOutputError, 13 TransferInputError,
32/33 Max transfer input/output size exceeded
3 JobPolicy, 5, 26 SystemPolicy, 27 (a periodic     ``memory`` when the ad shows
hold policy)                                        ``MemoryUsage > RequestMemory``,
                                                    else ``engine``
43/44 PreScriptFailed/PostScriptFailed              ``exit``
1 UserRequest, 15 SubmittedOnHold, 16               not a failure (``None``)
SpoolingInput
any other code (6 FailedToCreateProcess,            ``engine``
7-10 standard streams, 14 IwdError, 21, 22...)
==================================================  ===========================

A job that completed with a non-zero ``ExitCode`` or by a signal (``ExitBySignal``) is an
``exit`` failure. An evicted job (``VacateReasonCode``, ``NumVacates``) is ``evicted``;
HTCondor runs it again by itself, so the status path reports it without a retry of ours.
"""

from __future__ import annotations

from ...failure_kinds import ENGINE, EVICTED, EXIT, MEMORY, TRANSFER, WALLTIME, Failure

#: Attributes read for each job besides the status ones (see ``queue.ATTRIBUTES``).
ATTRIBUTES = ("HoldReasonSubCode", "MemoryUsage", "RequestMemory", "AllowedExecuteDuration",
              "AllowedJobDuration", "NumVacates", "VacateReasonCode", "VacateReason",
              "RemoteWallClockTime")

USER_REQUEST, JOB_POLICY, JOB_POLICY_UNDEFINED = 1, 3, 5
SUBMITTED_ON_HOLD, SPOOLING_INPUT = 15, 16
SYSTEM_POLICY, SYSTEM_POLICY_UNDEFINED = 26, 27
JOB_OUT_OF_RESOURCES = 34
JOB_DURATION_EXCEEDED, JOB_EXECUTE_EXCEEDED = 46, 47
PRE_SCRIPT_FAILED, POST_SCRIPT_FAILED = 43, 44

#: Holds that are no failure of the run (a person or the submit asked for them).
NOT_FAILURES = frozenset({USER_REQUEST, SUBMITTED_ON_HOLD, SPOOLING_INPUT})
TRANSFER_CODES = frozenset({11, 12, 13, 18, 32, 33})
POLICY_CODES = frozenset({JOB_POLICY, JOB_POLICY_UNDEFINED, SYSTEM_POLICY,
                          SYSTEM_POLICY_UNDEFINED})
WALLTIME_CODES = {JOB_DURATION_EXCEEDED: "AllowedJobDuration",
                  JOB_EXECUTE_EXCEEDED: "AllowedExecuteDuration"}

#: What each hold code means, for messages (the manual's labels, in words).
_HOLD_WORDS = {
    6: "its executable could not be started", 7: "its standard output could not be opened",
    8: "its standard input could not be opened", 11: "a file transfer protocol error",
    12: "its output files could not be transferred",
    13: "its input files could not be transferred",
    14: "its initial directory could not be accessed", 18: "a file transfer protocol error",
    21: "the machine's policy", 22: "its event log could not be initialised",
    32: "its input files exceed the transfer size limit",
    33: "its output files exceed the transfer size limit",
    35: "its Docker image is invalid", 43: "its PRE script failed", 44: "its POST script failed",
}

#: What each vacate code means (the manual's "Vacate Reason Codes", in words).
_VACATE_WORDS = {
    1000: "its periodic vacate policy", 1001: "the pool's vacate policy",
    1004: "a user's request", 1009: "the access point", 1010: "the administrator",
    1011: "the machine's preemption policy", 1013: "the machine shutting down",
    1014: "the machine draining", 1018: "a job the machine ranks higher",
    1019: "a user with better priority",
}


def _number(value):
    if isinstance(value, bool) or value in (None, "", "undefined", "error"):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _mb(value):
    number = _number(value)
    return None if number is None else int(round(number))


def _memory_words(requested, used):
    if requested is not None and used is not None:
        return f"(asked {requested} MB, used {used} MB)"
    if used is not None:
        return f"(used {used} MB)"
    return f"(asked {requested} MB)" if requested is not None else ""


def hold_failure(code, subcode=None, reason=None, ad=None) -> Failure | None:
    """The :class:`Failure` of a job HTCondor holds, or ``None`` for a hold that is no
    failure (``condor_hold``, submitted on hold, spooling).

    :param code: ``HoldReasonCode`` (int).
    :param subcode: ``HoldReasonSubCode`` (int; the errno for transfer holds).
    :param reason: ``HoldReason``, kept in the details for people, never interpreted.
    :param ad: other attributes of the job (``MemoryUsage``, ``RequestMemory``,
        ``AllowedExecuteDuration``, ``RemoteWallClockTime``...), as a dict.
    """
    ad = ad or {}
    if code is None or int(code) in NOT_FAILURES:
        return None
    code = int(code)
    details = {"hold_reason_code": code, "hold_reason_subcode": int(subcode or 0)}
    if reason:
        details["hold_reason"] = str(reason)
    requested, used = _mb(ad.get("RequestMemory")), _mb(ad.get("MemoryUsage"))
    if requested is not None:
        details["memory_requested_mb"] = requested
    if used is not None:
        details["memory_used_mb"] = used
    run_seconds = _number(ad.get("RemoteWallClockTime"))
    if run_seconds is not None:
        details["run_seconds"] = run_seconds
    over_memory = requested is not None and used is not None and used > requested
    if code == JOB_OUT_OF_RESOURCES or (code in POLICY_CODES and over_memory):
        words = _memory_words(requested, used)
        return Failure(MEMORY, f"held for exceeding its memory request {words}".strip(),
                       details)
    if code in WALLTIME_CODES:
        limit = _number(ad.get(WALLTIME_CODES[code]))
        within = f" of {int(limit)} s" if limit is not None else ""
        if limit is not None:
            details["run_time_limit"] = int(limit)
        return Failure(WALLTIME, f"held for running past its allowed run time{within}", details)
    if code in TRANSFER_CODES:
        return Failure(TRANSFER, f"held because {_HOLD_WORDS[code]} (HTCondor hold code "
                                 f"{code}, subcode {details['hold_reason_subcode']})", details)
    if code in (PRE_SCRIPT_FAILED, POST_SCRIPT_FAILED):
        return Failure(EXIT, f"held because {_HOLD_WORDS[code]}", details)
    if code in POLICY_CODES:
        return Failure(ENGINE, f"held by an HTCondor policy (hold code {code})", details)
    words = _HOLD_WORDS.get(code, "HTCondor could not run it")
    return Failure(ENGINE, f"held because {words} (HTCondor hold code {code})", details)


def exit_failure(exit_code=None, by_signal=False, signal=None) -> Failure | None:
    """The ``exit`` :class:`Failure` of a completed job, or ``None`` when it succeeded."""
    if by_signal:
        return Failure(EXIT, f"killed by signal {signal}",
                       {"exit_signal": None if signal is None else int(signal)})
    if exit_code:
        return Failure(EXIT, f"exited with code {exit_code}", {"exit_code": int(exit_code)})
    return None


def eviction(ad) -> Failure | None:
    """The ``evicted`` :class:`Failure` of a job evicted at least once (``NumVacates``),
    or ``None``. HTCondor puts an evicted job back to Idle and runs it again itself."""
    vacates = _number(ad.get("NumVacates"))
    if not vacates:
        return None
    code = _mb(ad.get("VacateReasonCode"))
    details = {"vacate_reason_code": code, "num_vacates": int(vacates)}
    if ad.get("VacateReason"):
        details["vacate_reason"] = str(ad["VacateReason"])
    why = _VACATE_WORDS.get(code, f"vacate code {code}")
    times = "once" if vacates == 1 else f"{int(vacates)} times"
    return Failure(EVICTED, f"evicted from its machine {times} (last by {why})", details)


def proc_failure(proc) -> Failure | None:
    """The failure of one proc (``queue.ProcState``): its hold, or its exit."""
    from .queue import COMPLETED, HELD

    if proc.status == HELD:
        return hold_failure(proc.hold_reason_code, proc.ad.get("HoldReasonSubCode"),
                            proc.hold_reason, proc.ad)
    if proc.status == COMPLETED:
        return exit_failure(proc.exit_code, proc.exit_by_signal, proc.exit_signal)
    return None
