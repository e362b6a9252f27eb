"""Result serializers for ``DaskJob.result`` (``TETHYS_COMPUTE["DASK_RESULT_SERIALIZER"]``).

By default a result is stored as JSON, and only JSON-able results can be stored (a
result that is not gives the job Error with the reason). A project that needs other
types opts in with the setting, a dotted path to a serializer (every result then goes
through it): an object (or class, instantiated without arguments) with

* ``name``: a short identifier stored with each value;
* ``dumps(value)``: returns JSON-able data for ``value`` (raise ``TypeError`` if it
  cannot);
* ``loads(data)``: rebuilds the value from that JSON data.

The column always holds JSON text: values a serializer made are stored as
``{"__tethys_compute_result__": <name>, "data": <JSON data>}``. Loading a row only parses
JSON and, for such a value, calls the *configured* serializer's ``loads`` on plain JSON
data, so a database value can never name code to run. Do not write a serializer whose
``loads`` unpickles or evaluates what it is given: that would reopen the hole (Tethys
unpickles this column on every load).

:class:`TaggedValueSerializer` is provided for common Python types.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import uuid
from pathlib import PurePath

from django.utils.module_loading import import_string

from ...conf import get_config

ENVELOPE = "__tethys_compute_result__"


def configured_serializer():
    """The serializer named by ``DASK_RESULT_SERIALIZER``, or ``None`` (JSON only).

    :raises ImportError: the dotted path does not import.
    :raises TypeError: the object lacks ``name``, ``dumps`` or ``loads``.
    """
    path = get_config().get("DASK_RESULT_SERIALIZER")
    if not path:
        return None
    serializer = import_string(path) if isinstance(path, str) else path
    if isinstance(serializer, type):
        serializer = serializer()
    for attribute in ("name", "dumps", "loads"):
        if not hasattr(serializer, attribute):
            raise TypeError(f"DASK_RESULT_SERIALIZER {path!r} has no {attribute!r}.")
    return serializer


class TaggedValueSerializer:
    """Stores tuples, sets, frozensets, bytes, datetimes, dates, times, timedeltas,
    Decimals, complex numbers, UUIDs and paths (nested in lists and dicts too), and
    NumPy arrays and scalars of numeric or boolean dtype when NumPy is installed.

    Each such value becomes ``{"__t__": <tag>, "v": <JSON data>}``; loading builds only
    these types, never anything the data names.
    """

    name = "tagged"

    def dumps(self, value):
        return self._encode(value)

    def loads(self, data):
        return self._decode(data)

    def _encode(self, value):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self._encode(item) for item in value]
        if isinstance(value, dict):
            if all(isinstance(key, str) for key in value) and "__t__" not in value:
                return {key: self._encode(item) for key, item in value.items()}
            return {"__t__": "dict", "v": [[self._encode(k), self._encode(v)]
                                            for k, v in value.items()]}
        tagged = self._encode_special(value)
        if tagged is None:
            raise TypeError(f"{type(value).__name__} values cannot be stored.")
        return {"__t__": tagged[0], "v": tagged[1]}

    def _encode_special(self, value):
        if isinstance(value, tuple):
            return "tuple", [self._encode(item) for item in value]
        if isinstance(value, (set, frozenset)):
            tag = "frozenset" if isinstance(value, frozenset) else "set"
            return tag, [self._encode(item) for item in value]
        if isinstance(value, (bytes, bytearray)):
            return "bytes", base64.b64encode(bytes(value)).decode("ascii")
        if isinstance(value, dt.datetime):
            return "datetime", value.isoformat()
        if isinstance(value, dt.date):
            return "date", value.isoformat()
        if isinstance(value, dt.time):
            return "time", value.isoformat()
        if isinstance(value, dt.timedelta):
            return "timedelta", [value.days, value.seconds, value.microseconds]
        if isinstance(value, decimal.Decimal):
            return "decimal", str(value)
        if isinstance(value, complex):
            return "complex", [value.real, value.imag]
        if isinstance(value, uuid.UUID):
            return "uuid", str(value)
        if isinstance(value, PurePath):
            return "path", str(value)
        return self._encode_numpy(value)

    def _encode_numpy(self, value):
        module = type(value).__module__
        if not module.startswith("numpy"):
            return None
        import numpy

        if isinstance(value, (numpy.ndarray, numpy.generic)) and value.dtype.kind in "biufc":
            data = value.tolist()
            if value.dtype.kind == "c":
                data = numpy.stack([numpy.real(value), numpy.imag(value)], axis=-1).tolist()
            return "ndarray", {"dtype": value.dtype.str, "shape": list(numpy.shape(value)),
                               "data": data, "scalar": isinstance(value, numpy.generic)}
        return None

    def _decode(self, data):
        if isinstance(data, list):
            return [self._decode(item) for item in data]
        if not isinstance(data, dict):
            return data
        if "__t__" not in data:
            return {key: self._decode(item) for key, item in data.items()}
        tag, value = data["__t__"], data.get("v")
        builders = {
            "tuple": lambda v: tuple(self._decode(item) for item in v),
            "set": lambda v: {self._decode(item) for item in v},
            "frozenset": lambda v: frozenset(self._decode(item) for item in v),
            "dict": lambda v: {self._decode(k): self._decode(item) for k, item in v},
            "bytes": lambda v: base64.b64decode(v.encode("ascii")),
            "datetime": dt.datetime.fromisoformat,
            "date": dt.date.fromisoformat,
            "time": dt.time.fromisoformat,
            "timedelta": lambda v: dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
            "decimal": decimal.Decimal,
            "complex": lambda v: complex(v[0], v[1]),
            "uuid": uuid.UUID,
            "path": PurePath,
            "ndarray": self._decode_numpy,
        }
        if tag not in builders:
            raise ValueError(f"Unknown stored type tag {tag!r}.")
        return builders[tag](value)

    @staticmethod
    def _decode_numpy(value):
        import numpy

        dtype = numpy.dtype(value["dtype"])
        if dtype.kind not in "biufc":
            raise ValueError(f"Refusing to build an array of dtype {dtype}.")
        array = numpy.asarray(value["data"])
        if dtype.kind == "c":
            array = array[..., 0] + 1j * array[..., 1]
        array = array.astype(dtype).reshape(value["shape"])
        return array[()] if value.get("scalar") else array
