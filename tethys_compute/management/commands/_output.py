"""Output helpers of the tethys_compute commands (not a command: the leading underscore
keeps Django from listing it)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.management.base import CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


def format_table(headers, rows) -> str:
    """Plain-text table: a header line, a rule, then one line per row."""
    cells = [[("" if v is None else str(v)).replace("\n", " ") for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return "\n".join(lines)


class OutputEncoder(DjangoJSONEncoder):
    """Django's JSON encoder (dates and times in ECMA-262 form as ``JsonResponse`` writes
    them, decimals, UUIDs and lazy strings as text), with durations in seconds and any
    other value (e.g. a job's stored result) as its ``str()``."""

    def default(self, o):
        if isinstance(o, timedelta):
            return o.total_seconds()
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def to_json(data) -> str:
    """``data`` as indented JSON (:class:`OutputEncoder`)."""
    return json.dumps(data, indent=2, cls=OutputEncoder)


def when(value) -> str:
    """A datetime as local ``YYYY-MM-DD HH:MM:SS``, or ``""``."""
    if not value:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def parse_when(text, option) -> datetime:
    """Parse ``YYYY-MM-DD`` or an ISO 8601 date-time given to ``option`` (local time when
    no offset is given).

    :raises CommandError: when the text is neither.
    """
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            moment = datetime(day.year, day.month, day.day) if day else None
        if moment is not None and settings.USE_TZ and timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        if moment is not None and moment.tzinfo is not None:
            moment.astimezone(dt_timezone.utc)  # in range once converted (databases use UTC)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise CommandError(f'{option} takes a date (YYYY-MM-DD) or an ISO 8601 date-time '
                           f'from the years 1 to 9999, not "{text}".')
    return moment
