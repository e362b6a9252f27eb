"""Expanding ``$(...)`` macros of a submit description, to find a job's log files.

Names are case-insensitive; ``$(Cluster)``/``$(ClusterId)`` and ``$(Process)``/``$(ProcId)``
are the job's ids (or a wildcard when unknown), ``$(name:default)`` gives a default, and an
undefined macro expands to nothing, as ``condor_submit`` does.
"""

from __future__ import annotations

import re

_MACRO = re.compile(r"(?<!\$)\$\(([A-Za-z0-9_.]+)(?::([^()]*))?\)")
_SPECIAL = {"cluster": "cluster", "clusterid": "cluster", "process": "proc", "procid": "proc"}


def expand(value, attributes: dict, cluster="*", proc="*", depth=0) -> str:
    """Expand ``value`` using ``attributes`` (a submit description as a dict)."""
    if value is None:
        return ""
    lowered = {str(k).lower(): v for k, v in attributes.items()}

    def replace(match):
        name, default = match.group(1), match.group(2)
        special = _SPECIAL.get(name.lower())
        if special == "cluster":
            return str(cluster)
        if special == "proc":
            return str(proc)
        raw = lowered.get(name.lower())
        if raw in (None, ""):
            return default or ""
        if depth > 16:
            return ""
        return expand(raw, attributes, cluster, proc, depth + 1)

    text, previous = str(value), None
    while previous != text:
        previous = text
        text = _MACRO.sub(replace, text)
    return text
