"""Per-job tokens that let the scheduler plugin report a Dask job's task transitions.

A token is ``django.core.signing.dumps([job id, task key])`` with its own salt, signed
with ``SECRET_KEY``: it names exactly one job *and* one task key, so it is worthless for
any other job, and for the same job after ``resubmit()`` (which gives a new key). It is
handed to the scheduler at submit time as a task annotation (never put in a URL) and is
valid for ``TETHYS_COMPUTE["STATUS_REPORT_MAX_AGE"]`` seconds (30 days by default).
"""

from __future__ import annotations

from django.core import signing

from ...conf import get_config

SALT = "tethys_compute.dask_job_status"


def make_token(job_id, key) -> str:
    """Token for job ``job_id`` (int or str) running as task ``key`` (str)."""
    return signing.dumps([str(job_id), str(key)], salt=SALT, compress=True)


def read_token(token):
    """Return ``(job_id, key)`` (both ``str``) for a valid token, else ``None`` (not a
    string, forged, for another purpose, or older than ``STATUS_REPORT_MAX_AGE``)."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        return None
    try:
        value = signing.loads(token, salt=SALT, max_age=get_config()["STATUS_REPORT_MAX_AGE"])
    except (signing.BadSignature, ValueError):
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(part, str) and part for part in value)
    ):
        return None
    return value[0], value[1]
