"""Links a jobs table builds for one job: ``monitor_url``, ``results_url``, URL-type and
modal custom actions.

A link is given either as a URL *name* (Tethys's form, e.g. ``"my_app:job_results"``),
reversed with the keyword argument ``job_id`` (or, failing that, one positional
argument), or as a path or ``http(s)`` URL containing ``/``, in which ``{job_id}`` is
replaced by the job's id (a path without ``{job_id}`` gets the id appended as its last
segment).
"""

from __future__ import annotations

from typing import TypeGuard

from django.urls import NoReverseMatch, reverse


def is_url_spec(value: object) -> TypeGuard[str]:
    """True when ``value`` names a link rather than a job method (Tethys's rule: a string
    containing ``:`` or ``/``)."""
    return isinstance(value, str) and (":" in value or "/" in value)


def check_link(spec: str, what: str) -> str:
    """Validate a link given to a jobs table option.

    :param spec: a URL name or a path/URL (see the module docstring).
    :param what: the option's name, for the error message.
    :returns: ``spec``.
    :raises ValueError: if ``spec`` is not a non-empty string, is a path that is neither
        absolute nor ``http(s)``, or is a URL name that cannot be reversed with a job id.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{what} must be a URL name or a path, not {spec!r}.")
    if "/" in spec:
        if not spec.startswith(("/", "http://", "https://")):
            raise ValueError(
                f'{what} "{spec}" must be an absolute path ("/...") or an http(s) URL.'
            )
        return spec
    try:
        job_url(spec, 1)
    except NoReverseMatch as exc:
        raise ValueError(
            f'{what} "{spec}" is not a URL name that can be reversed with a job_id '
            f"argument: {exc}"
        ) from None
    return spec


def job_url(spec: str, job_id) -> str:
    """Return the link ``spec`` for job ``job_id``.

    :raises NoReverseMatch: if ``spec`` is a URL name that does not take a job id.
    """
    if "/" in spec:
        if "{job_id}" in spec:
            return spec.replace("{job_id}", str(job_id))
        base, sep, query = spec.partition("?")
        base = base if base.endswith("/") else base + "/"
        return f"{base}{job_id}/" + (sep + query if sep else "")
    try:
        return reverse(spec, kwargs={"job_id": job_id})
    except NoReverseMatch:
        return reverse(spec, args=[job_id])
