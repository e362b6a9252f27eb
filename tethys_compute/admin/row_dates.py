"""Dates of the job changelist's rows (``rows.py``): a page's dates formatted with the
per-format-character work done once per day, hour or minute of the page rather than once
per value, the same text as Django's ``display_for_field`` gives
(``tests/admin/test_job_rows.py::test_dates_are_djangos_text``)."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import dateformat, formats, timezone

#: Format characters (``django.utils.dateformat``) that depend only on a date, and only on
#: the hour and minute: a page's dates are formatted one part per day and one per minute.
_DATE_CHARS = frozenset("bdDEFjlLmMnNoStwWyYz")
_TIME_CHARS = frozenset("aAfgGhHiP")


class DateTimeText:
    """``value -> text`` of a datetime as ``display_for_field`` shows it
    (``formats.localize(timezone.template_localtime(value))``), for one page: each
    format character is worked out once per day (date characters) or once per hour and
    minute (time characters) rather than once per value; a format with any other
    character (seconds, time zone...) is formatted whole, as Django does."""

    def __init__(self):
        pieces = dateformat.re_formatchars.split(str(formats.get_format("DATETIME_FORMAT")))
        # (True, character) or (False, literal text), as Django's Formatter reads them.
        self.pieces = [(True, piece) if index % 2 else
                       (False, dateformat.re_escaped.sub(r"\1", piece))
                       for index, piece in enumerate(pieces) if index % 2 or piece]
        self.split = all(piece in _DATE_CHARS or piece in _TIME_CHARS
                         for is_char, piece in self.pieces if is_char)
        self.parts: dict = {}
        self.texts: dict = {}
        self.hours: dict = {}  # see _HourTimeFormat
        # template_localtime's settings, read once per page (not once per value).
        self.zone = timezone.get_current_timezone() if settings.USE_TZ else None

    def _local(self, value):
        """``timezone.template_localtime(value)``, with the page's time zone."""
        if (self.zone is None or not isinstance(value, datetime.datetime)
                or value.utcoffset() is None
                or not getattr(value, "convert_to_local_time", True)):
            return value
        return value.astimezone(self.zone)

    def __call__(self, value):
        local = self._local(value)
        if not self.split or not isinstance(local, datetime.datetime):
            return formats.localize(local)
        day = (local.year, local.month, local.day)
        minute = (local.hour, local.minute)
        key = (day, minute)
        text = self.texts.get(key)
        if text is None:
            text = self.texts[key] = self._text(local, day, minute)
        return text

    def _text(self, local, day, minute):
        parts = self.parts
        shown = []
        for is_char, piece in self.pieces:
            if not is_char:
                shown.append(piece)
                continue
            is_date = piece in _DATE_CHARS
            key = (piece, day if is_date else minute)
            text = parts.get(key)
            if text is None:
                # A time character reads only the hour and minute: formatted from a
                # plain time, without DateFormat's time zone checks of the datetime.
                formatter = (dateformat.DateFormat(local) if is_date else
                             _HourTimeFormat(datetime.time(*minute), self.hours))
                text = parts[key] = str(getattr(formatter, piece)())
            shown.append(text)
        return "".join(shown)


class _HourTimeFormat(dateformat.TimeFormat):
    """Django's ``TimeFormat`` of a plain time, whose "a.m."/"p.m." (``a``) and "AM"/"PM"
    (``A``), also inside ``P``, are translated once per hour of a page (``hours``), not
    once per value: a page's dates are mostly each in a minute of its own, and the
    translation lookup was most of a date's cost."""

    def __init__(self, obj, hours):
        super().__init__(obj)
        self.hours = hours

    def _per_hour(self, name, text_of):
        key = (name, self.data.hour)
        text = self.hours.get(key)
        if text is None:
            text = self.hours[key] = text_of()
        return text

    def a(self):
        return self._per_hour("a", super().a)

    def A(self):  # noqa: N802 (Django's format character)
        return self._per_hour("A", super().A)
