"""Reading and checking the fields of a status report (report-job-status).

A report comes as a JSON body, a form body, or a query string (Tethys 4.6 reads only the
query string; its reporters keep working). The token may also come in an
``Authorization: Bearer`` header, which keeps it out of URLs and access logs.
"""

from __future__ import annotations

import json
import math

from django.core.exceptions import RequestDataTooBig

from .. import status as st

FIELDS = ("token", "status", "progress", "progress_message", "node_statuses", "attempt")
MAX_NODES = 10_000


class BadReport(Exception):
    """The report is malformed; the message names the problem (answered with 400)."""


def read_fields(request) -> dict:
    """Return the report's fields (``FIELDS``; missing ones are absent) and the token.

    Body fields win over query-string fields; an ``Authorization: Bearer`` token wins
    over both.

    :raises BadReport: if the body is not valid JSON, not a JSON object, or too large.
    """
    fields = {}
    for name in FIELDS:
        if name in request.GET:
            fields[name] = request.GET[name]
    if request.method == "POST":
        fields.update(_body_fields(request))
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        fields["token"] = credentials.strip()
    return fields


def _body_fields(request) -> dict:
    content_type = request.content_type or ""
    try:
        if content_type == "application/json":
            try:
                data = json.loads(request.body or b"{}")
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise BadReport("the request body is not valid JSON") from None
            if not isinstance(data, dict):
                raise BadReport("the request body must be a JSON object")
            return {name: data[name] for name in FIELDS if name in data}
        return {name: request.POST[name] for name in FIELDS if name in request.POST}
    except RequestDataTooBig:
        raise BadReport("the request body is too large") from None


def parse_status(value):
    """``None`` when no status is reported; else the status string, stripped.

    Built-in codes and display names are accepted here; any other text is checked
    against the job's class later (:func:`is_known_status`).

    :raises BadReport: if the status is not a non-empty string.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadReport(f"invalid status: {value}")
    return value.strip()


def is_builtin_status(value) -> bool:
    return value in st.VALID_STATUSES or value in st.DISPLAY_STATUSES


def is_known_status(job_class, value, *, subclasses=False) -> bool:
    """True for a built-in status, or a custom status registered on ``job_class`` (or,
    with ``subclasses``, on any of its subclasses)."""
    if is_builtin_status(value):
        return True
    classes = [job_class]
    while classes:
        klass = classes.pop()
        if value in klass.NON_TERMINAL_STATUSES or value in klass.TERMINAL_STATUSES:
            return True
        if not subclasses:
            break
        classes.extend(klass.__subclasses__())
    return False


def parse_progress(value, message):
    """Return ``(percent, message)``; ``(None, None)`` when no progress is reported.

    :raises BadReport: if ``percent`` is not a number from 0 to 100 or the message is
        not a string.
    """
    if value is None or value == "":
        if message is not None:
            raise BadReport("progress_message needs a progress value")
        return None, None
    try:
        percent = float(value)
    except (TypeError, ValueError, OverflowError):
        percent = math.nan
    if isinstance(value, bool) or not 0 <= percent <= 100:
        raise BadReport(f"invalid progress: {value!r} (use a number from 0 to 100)")
    if message is not None and not isinstance(message, str):
        raise BadReport("invalid progress_message: it must be a string")
    return percent, message


def parse_attempt(value):
    """Return the run a report is about (``job.attempt`` when its work was submitted), an
    ``int`` of 1 or more, or ``None`` when it is not given.

    :raises BadReport: if it is not a whole number of 1 or more.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadReport(f"invalid attempt: {value!r} (use the job's attempt, 1 or more)")
    text = str(value).strip()
    if not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise BadReport(f"invalid attempt: {value!r} (use the job's attempt, 1 or more)")
    return int(text)


def parse_node_statuses(value):
    """Return the reported node statuses as ``{node name: status}``, or ``None``.

    Accepts a JSON object, or a string holding one (form and query string).

    :raises BadReport: if it is not an object of strings to strings.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise BadReport("invalid node_statuses: not valid JSON") from None
    if not isinstance(value, dict):
        raise BadReport("invalid node_statuses: it must be a JSON object of node names to statuses")
    if len(value) > MAX_NODES:
        raise BadReport(f"invalid node_statuses: more than {MAX_NODES} nodes")
    for name, node_status in value.items():
        if not isinstance(node_status, str):
            raise BadReport(f"invalid node_statuses: the status of node {name!r} is not a string")
    return value
