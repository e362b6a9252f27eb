"""Columns of a jobs table: parsing Tethys's ``column_fields``, reading cell values, and
the database ordering of sortable columns.

A column is ``"field"`` or ``("Title", "field")``. ``field`` is a job attribute or
property, or ``extended_properties.a.b`` (a path into the job's ``extended_properties``,
``""`` where missing). The default title is Tethys's: the field (or the last path
segment) title-cased with ``_`` turned into spaces.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.db import models
from django.utils import timezone
from django.utils.formats import date_format

from .. import status as st
from . import usage_column

logger = logging.getLogger("tethys_compute.jobs_table")

EXTENDED = "extended_properties."


@dataclass(frozen=True)
class Column:
    title: str
    field: str

    @property
    def css(self) -> str:
        """The field as a CSS class stem (``extended_properties-a-b``)."""
        return self.field.replace(".", "-")

    @property
    def path(self) -> list[str] | None:
        """The key path of an ``extended_properties`` column, else ``None``."""
        if self.field.startswith(EXTENDED):
            return self.field[len(EXTENDED):].split(".")
        return None


def default_title(field: str) -> str:
    name = field.rsplit(".", 1)[-1] if field.startswith(EXTENDED) else field
    return name.title().replace("_", " ")


def parse_columns(column_fields) -> list[Column]:
    """Turn ``column_fields`` into columns.

    :raises ValueError: if it is not a list/tuple, or an entry is neither a field name
        nor a ``(title, field)`` pair of strings.
    """
    if isinstance(column_fields, (str, bytes)) or not isinstance(column_fields, (list, tuple)):
        raise ValueError(
            f"column_fields must be a list of field names or (title, field) pairs, "
            f"not {column_fields!r}."
        )
    columns = []
    for spec in column_fields:
        if isinstance(spec, str) and spec.strip():
            columns.append(Column(default_title(spec), spec))
        elif (
            isinstance(spec, (list, tuple))
            and len(spec) == 2
            and all(isinstance(part, str) for part in spec)
            and spec[1].strip()
        ):
            columns.append(Column(spec[0], spec[1]))
        else:
            raise ValueError(
                f"Invalid column field {spec!r}: use \"field\" or (\"Title\", \"field\")."
            )
    return columns


def is_valid_for(column: Column, job) -> bool:
    """True when ``column`` can be read from ``job`` (checked without evaluating
    properties, so nothing contacts an engine)."""
    if column.path is not None:
        return all(column.path)
    field = column.field
    if field.startswith("__") or "." in field:
        return False
    return hasattr(type(job), field) or field in job.__dict__


def validate_columns(columns: list[Column], first_job) -> list[Column]:
    """Drop the columns ``first_job`` does not have, with a warning (as Tethys)."""
    if first_job is None:
        return columns
    kept = []
    for column in columns:
        if is_valid_for(column, first_job):
            kept.append(column)
        else:
            logger.warning(
                'Jobs table: the column field "%s" is not an attribute of %s; it is left out.',
                column.field, type(first_job).__name__,
            )
    return kept


def raw_value(job, column: Column):
    path = column.path
    if path is not None:
        value = job.extended_properties or {}
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return ""
            value = value[key]
        return value
    if column.field == "status":
        return job.cached_status  # never contacts an engine while rendering
    value = getattr(job, column.field, "")
    if callable(value) and not isinstance(value, models.Model):
        return ""
    return value


def format_duration(value: datetime.timedelta) -> str:
    """``timedelta`` as ``H:MM:SS`` (days kept, fractions of a second cut, as Tethys)."""
    return str(value - datetime.timedelta(microseconds=value.microseconds))


def cell(job, column: Column) -> dict:
    """The cell of ``column`` for ``job``: ``{"text", "iso", "elapsed"}``.

    ``iso`` is set for times (an ISO 8601 UTC instant the browser shows in the viewer's
    timezone). ``elapsed`` is set (whole seconds, ``int``) for the ``run_time`` of a job
    that has started and not yet completed: the browser keeps counting from it, so a
    running job's run time moves between live updates without a request.
    """
    if column.field == usage_column.FIELD:
        return {"text": usage_column.usage_text(job), "iso": None, "elapsed": None,
                "title": usage_column.usage_title(job)}
    value = raw_value(job, column)
    if isinstance(value, datetime.datetime):
        aware = value if timezone.is_aware(value) else timezone.make_aware(value)
        iso = aware.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
        shown = timezone.localtime(aware)
        return {"text": f"{date_format(shown, 'DATETIME_FORMAT')} {shown.tzname() or ''}".strip(),
                "iso": iso, "elapsed": None}
    if isinstance(value, datetime.timedelta):
        # A job reported finished stops counting at once, before its results processing
        # writes completion_time (a poll may land between the two writes).
        running = (column.field == "run_time" and not job.completion_time
                   and job._status not in st.TERMINAL_STATUS_CODES)
        return {"text": format_duration(value), "iso": None,
                "elapsed": max(int(value.total_seconds()), 0) if running else None}
    if value is None:
        return {"text": "", "iso": None, "elapsed": None}
    return {"text": str(value), "iso": None, "elapsed": None}


def sort_expression(column: Column) -> str | None:
    """The ``order_by`` expression of a column, or ``None`` when the database cannot
    sort by it (computed properties such as ``run_time`` or ``type``)."""
    from ..models import TethysJob

    if column.path is not None:
        return "extended_properties__" + "__".join(column.path)
    if column.field == "status":
        return "_status"
    if column.field == usage_column.FIELD:
        return usage_column.SORT
    try:
        field = TethysJob._meta.get_field(column.field)
    except Exception:  # noqa: BLE001 - FieldDoesNotExist and friends: not sortable
        return None
    if field.many_to_many or field.one_to_many or not field.concrete:
        return None
    if field.many_to_one:
        related = field.related_model
        username = getattr(related, "USERNAME_FIELD", None)
        return f"{field.name}__{username}" if username else field.attname
    return field.name
