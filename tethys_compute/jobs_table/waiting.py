"""The jobs table's line for a job waiting for a free slot (per-user limits,
:mod:`tethys_compute.models.quotas`): the wait and the job's place in its user's line."""

from __future__ import annotations

from ..models.quotas import positions

PLACE_KEY = "_waiting_place"


def mark_places(jobs) -> None:
    """Give each waiting job among ``jobs`` its place in line (one query for all), read
    by :func:`waiting_text` and the row's fingerprint."""
    jobs = list(jobs)
    places = positions(jobs)
    for job in jobs:
        job.__dict__[PLACE_KEY] = places.get(job.pk)


def place(job) -> int | None:
    return job.__dict__.get(PLACE_KEY)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def waiting_text(job) -> str:
    """``"Waiting for a free slot (5 of 5 running), 2nd in line"``, or ``""`` when the
    job is not waiting for a slot."""
    if not getattr(job, "waiting_for_slot", False):
        return ""
    text = job.status_message or "Waiting for a free slot"
    where = place(job)
    return f"{text}, {_ordinal(where)} in line" if where else text
