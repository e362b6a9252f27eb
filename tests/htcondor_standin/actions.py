"""Hold, release and remove, as the schedd applies ``condor_hold``, ``condor_release`` and
``condor_rm``: the job's ``JobStatus`` changes at once (a removed job shows ``X`` until it
leaves the queue); the schedd loop then stops the job's process and writes the event."""

from __future__ import annotations

import time

from . import classads
from .state import Queue
from .submitter import owner

HOLD, RELEASE, REMOVE, VACATE = "hold", "release", "remove", "vacate"
_VERB = {HOLD: "held", RELEASE: "released", REMOVE: "marked for removal", VACATE: "vacated"}


def parse_job_id(text: str):
    """``"5"`` -> ``(5, None)``, ``"5.1"`` -> ``(5, 1)``; ``None`` if not a job id."""
    cluster, sep, proc = text.partition(".")
    if not cluster.isdigit() or (sep and not proc.isdigit()):
        return None
    return int(cluster), (int(proc) if sep else None)


def select(ads, ids=(), owners=(), constraint=None):
    """Ads matching any of the job ids or owners (all when none given) and the constraint."""
    matches = classads.compile_constraint(constraint) if constraint else None
    clusters = {cluster for cluster, proc in ids if proc is None}
    procs = {(cluster, proc) for cluster, proc in ids if proc is not None}
    chosen = []
    for ad in ads:
        if ids or owners:
            hit = (ad["ClusterId"] in clusters or (ad["ClusterId"], ad["ProcId"]) in procs
                   or ad.get("Owner") in owners)
            if not hit:
                continue
        if matches is not None and not matches(ad):
            continue
        chosen.append(ad)
    return chosen


def act(action, *, ids=(), owners=(), constraint=None, reason=None, state=None, fast=False,
        code=1004):
    """Apply ``action`` to the matching jobs in the queue.

    Returns ``(changed_ads, messages, errors)``: HTCondor's stdout lines, and its stderr
    lines for ids that matched nothing.
    """
    user = owner()
    now = int(time.time())
    changed, messages, errors = [], [], []
    with Queue(state) as queue, queue.write():
        ads = queue.queue()
        targets = select(ads, ids, owners, constraint)
        for ad in targets:
            if _apply(action, ad, reason, user, now, fast, code):
                changed.append(ad)
                queue.update(ad)
        if action == REMOVE:
            for ad in list(changed):
                extra = ad.get("OtherJobRemoveRequirements")
                if not extra:
                    continue
                extra_text = extra["expr"] if isinstance(extra, dict) else str(extra)
                for other in select(queue.queue(), constraint=extra_text):
                    if other["JobStatus"] != 3 and _apply(
                        REMOVE, other, f"removed because <OtherJobRemoveRequirements = "
                        f"{extra_text}> fired when job {ad['ClusterId']}.{ad['ProcId']} was removed",
                        user, now,
                    ):
                        queue.update(other)
    if action == VACATE:
        targets = changed  # only running jobs can be vacated
    for cluster, proc in ids:
        hits = [a for a in targets if a["ClusterId"] == cluster and (proc is None or a["ProcId"] == proc)]
        if not hits:
            what = f"cluster {cluster}" if proc is None else f"job {cluster}.{proc}"
            errors.append(f"Couldn't find/{action} all jobs in {what}.")
        elif proc is None:
            messages.append(f"All jobs in cluster {cluster} have been {_VERB[action]}")
        else:
            messages.append(f"Job {cluster}.{proc} {_VERB[action]}")
    if constraint and not ids:
        if targets:
            messages.append(f"All jobs matching constraint ({constraint}) have been {_VERB[action]}")
        else:
            errors.append(f"Couldn't find/{action} all jobs matching constraint ({constraint})")
    for name in owners:
        messages.append(f"All jobs of user \"{name}\" have been {_VERB[action]}")
    return changed, messages, errors


def _apply(action, ad, reason, user, now, fast=False, code=1004):
    status = ad["JobStatus"]
    if action == VACATE:
        # condor_vacate_job: a running job is evicted and goes back to Idle (the schedd
        # stops it and updates the ad); -fast kills it at once. A negative code asks the
        # schedd for SIGKILL.
        if status != 2:
            return False
        why = reason or (f"via condor_vacate_job (by user {user})" if code == 1004
                         else "The administrator requested the job to be vacated")
        _pending(ad, "vacate", why, -code if fast else code)
        return True
    if action == HOLD:
        if status in (3, 4, 5):
            return False
        ad.update(
            LastJobStatus=status,
            JobStatus=5,
            EnteredCurrentStatus=now,
            HoldReason=reason or f"via condor_hold (by user {user})",
            HoldReasonCode=1,
            HoldReasonSubCode=0,
            NumHolds=int(ad.get("NumHolds") or 0) + 1,
        )
        _pending(ad, "hold", ad["HoldReason"], 1)
        return True
    if action == RELEASE:
        if status != 5:
            return False
        ad["LastHoldReason"] = ad.pop("HoldReason", None)
        ad.pop("HoldReasonCode", None)
        ad.pop("HoldReasonSubCode", None)
        ad.update(
            LastJobStatus=5,
            JobStatus=1,
            EnteredCurrentStatus=now,
            ReleaseReason=reason or f"via condor_release (by user {user})",
            _standin_since=time.time(),
        )
        _pending(ad, "release", ad["ReleaseReason"])
        return True
    if status in (3, 4):
        return False
    ad.update(
        LastJobStatus=status,
        JobStatus=3,
        EnteredCurrentStatus=now,
        RemoveReason=reason or f"via condor_rm (by user {user})",
    )
    _pending(ad, "remove", ad["RemoveReason"])
    return True


def _pending(ad, event, reason, code=0):
    """Queue an event for the schedd loop (it stops processes and writes the log)."""
    ad["_standin_pending"] = [*(ad.get("_standin_pending") or []), [event, reason, code]]
