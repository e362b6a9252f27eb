"""``DaskSerializedField``: where a Dask job keeps its result (column type ``text``).

Tethys stores distributed's pickle-capable serialization here and unpickles it on every
load, so a corrupt value makes the row unloadable and a hostile one runs code
(see "Differences from Tethys" in the docs). This field stores JSON text only:

* by default values are stored as JSON (tuples come back as lists and dict keys as
  strings, as in JSON) and values that are not JSON-able are refused with a
  ``ValidationError`` naming the type;
* with ``TETHYS_COMPUTE["DASK_RESULT_SERIALIZER"]`` set
  (:mod:`tethys_compute.models.dask.serializers`), every value goes through that
  serializer (still stored as JSON text);
* loading never runs code named by the data and never fails: a value that cannot be read
  loads as an :class:`UnreadableResult` that keeps the stored text, and saving the row
  again writes that text back unchanged.
"""

from __future__ import annotations

import json
import logging

from django.core.exceptions import ValidationError
from django.db import models

from .serializers import ENVELOPE, configured_serializer

logger = logging.getLogger("tethys_compute.dask")


class UnreadableResult:
    """A stored result that could not be read back; :attr:`raw` is the stored text and
    :attr:`reason` says why. It is falsy."""

    __slots__ = ("raw", "reason")

    def __init__(self, raw, reason):
        self.raw = raw
        self.reason = reason

    def __bool__(self):
        return False

    def __eq__(self, other):
        return isinstance(other, UnreadableResult) and other.raw == self.raw

    def __hash__(self):
        return hash(self.raw)

    def __repr__(self):
        return f"<UnreadableResult: {self.reason}>"


def encode(value):
    """Return the column text for ``value`` (``None`` stays ``None``).

    :raises ValidationError: the value is not JSON-able (no serializer configured), or
        the configured serializer refuses it.
    """
    if value is None:
        return None
    if isinstance(value, UnreadableResult):
        return value.raw
    try:
        serializer = configured_serializer()
    except (ImportError, TypeError) as exc:
        raise ValidationError(f"DASK_RESULT_SERIALIZER is not usable: {exc}") from exc
    if serializer is not None:
        try:
            return json.dumps({ENVELOPE: serializer.name, "data": serializer.dumps(value)})
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"Unable to serialize value with {serializer.name!r}: {exc}"
            ) from exc
    if isinstance(value, dict) and ENVELOPE in value:
        # A plain dict that happens to use the envelope key is wrapped, not mistaken.
        value = {ENVELOPE: "json", "data": value}
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"Unable to serialize value: {exc}. Results are stored as JSON: return "
            "JSON-able data (e.g. from a process_results_function) or set "
            'TETHYS_COMPUTE["DASK_RESULT_SERIALIZER"].'
        ) from exc


def decode(text):
    """Return the value stored as ``text``; never raises, never runs stored code."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        logger.warning("A stored Dask job result is not valid JSON: %s", exc)
        return UnreadableResult(text, f"not valid JSON ({exc})")
    if not (isinstance(value, dict) and ENVELOPE in value):
        return value
    name, data = value.get(ENVELOPE), value.get("data")
    if name == "json":
        return data
    try:
        serializer = configured_serializer()
    except (ImportError, TypeError) as exc:
        return UnreadableResult(text, f"DASK_RESULT_SERIALIZER is not usable: {exc}")
    if serializer is None or serializer.name != name:
        return UnreadableResult(
            text, f"stored with the {name!r} serializer, which is not configured"
        )
    try:
        return serializer.loads(data)
    except Exception as exc:  # noqa: BLE001 - the row must load whatever the data
        logger.warning("A stored Dask job result could not be decoded: %s", exc)
        return UnreadableResult(text, f"the {name!r} serializer could not read it ({exc})")


class DaskSerializedField(models.TextField):
    """Holds a Dask job's result as JSON text (Tethys's field name and column type)."""

    description = "Result of a Dask job (JSON)"

    def from_db_value(self, value, expression, connection):
        return decode(value)

    def to_python(self, value):
        if isinstance(value, str):
            decoded = decode(value)
            return value if isinstance(decoded, UnreadableResult) else decoded
        return value

    def get_prep_value(self, value):
        return encode(value)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))
