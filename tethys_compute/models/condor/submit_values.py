"""Submit-description values as condorpy 0.7.0's ``Job.set`` writes them.

Tethys pushes a job's attributes through condorpy when it saves the job, so what is stored
(and what apps read back and split) is condorpy's text: a list or tuple joined with
``", "``; ``arguments`` joined with spaces, each item with ``'`` and ``"`` doubled and
wrapped in single quotes when it holds a space or tab (HTCondor's "new syntax"); an
``Arguments`` (old syntax, in pre/post scripts) item with ``"`` escaped as ``\\"``;
``rempas`` items joined with ``"; "`` with ``=`` and ``;`` escaped; ``True``/``False`` as
``"true"``/``"false"``; anything else (ints included) kept as given. ``job_name`` is set to
the job's name. Pure functions: no condorpy needed, and tests compare them with condorpy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _new_syntax(item, quote_escape='"'):
    text = str(item).replace("'", "''").replace('"', quote_escape + '"')
    return f"'{text}'" if " " in text or "\t" in text else text


def _old_syntax(item):
    return _new_syntax(item, "\\")


def _remap(item):
    return str(item).replace("=", "\\=").replace(";", "\\;")


#: Attribute-name suffixes with their own join rule (condorpy checks them in this order,
#: the last match winning).
_JOINS = (
    ("rempas", "; ", _remap),
    ("arguments", " ", _new_syntax),
    ("Arguments", " ", _old_syntax),
)


def submit_value(name: str, value):
    """The value condorpy's ``Job.set(name, value)`` stores."""
    if value is False:
        return "false"
    if value is True:
        return "true"
    if isinstance(value, (list, tuple)):
        separator: str = ", "
        escape: Callable[[Any], str] = str
        for suffix, sep, esc in _JOINS:
            if name.endswith(suffix):
                separator, escape = sep, esc
        return separator.join(escape(item) for item in value)
    return value


def submit_attributes(job_name: str, attributes: dict | None) -> dict:
    """``attributes`` as condorpy's ``Job(name=job_name, attributes=...)`` holds them:
    every value through :func:`submit_value`, ``job_name`` set (in place if present,
    otherwise last). Idempotent."""
    merged = dict(attributes or {})
    merged["job_name"] = job_name
    return {str(key): submit_value(str(key), value) for key, value in merged.items()}
