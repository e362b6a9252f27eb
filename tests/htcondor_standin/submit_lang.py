"""HTCondor's submit description language, as ``condor_submit`` reads it.

Covers what the stand-in needs: ``key = value`` commands (case-insensitive keys),
``+Attr``/``MY.Attr`` ClassAd attributes, ``#`` comments, ``\\`` line continuation,
``$(macro)`` expansion (``$(Cluster)``/``$(ClusterId)``, ``$(Process)``/``$(ProcId)``,
``$(name:default)``, ``$ENV(NAME)``; an undefined macro expands to nothing), ``queue`` and
``queue N`` (each ``queue`` statement queues procs with the commands set so far), and
the "new" (double-quoted) and "old" syntaxes of ``arguments`` and ``environment``.
"""

from __future__ import annotations

import os
import re


class SubmitError(Exception):
    """A problem condor_submit reports as ``ERROR: ...`` and exits 1."""


_QUEUE = re.compile(r"^queue\b(.*)$", re.IGNORECASE)
_ASSIGN = re.compile(r"^([+A-Za-z_][A-Za-z0-9_.+]*)\s*=\s*(.*)$")
_MACRO = re.compile(r"(?<!\$)\$\(([A-Za-z0-9_.]+)(?::([^()]*))?\)")
_ENV_MACRO = re.compile(r"\$ENV\(([A-Za-z0-9_]+)\)")

SPECIAL = {"cluster": "cluster", "clusterid": "cluster", "process": "proc", "procid": "proc"}


def logical_lines(text: str):
    """Yield the description's lines with continuations joined and comments dropped."""
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if not line or line.startswith("#"):
            continue
        yield line
    if pending.strip():
        yield pending.strip()


def parse(text: str, appends=()):
    """Parse a submit description into statements.

    Returns a list of ``("set", key, value)``, ``("attr", Name, value_text)`` and
    ``("queue", count)``. ``appends`` are commands placed immediately before every
    ``queue`` statement (``condor_submit -append``).

    :raises SubmitError: on a line that is neither a command nor a queue statement.
    """
    statements = []
    extra = [_statement(cmd, "-append") for cmd in appends]
    queued = False
    for line in logical_lines(text):
        queue = _QUEUE.match(line)
        if queue:
            statements.extend(extra)
            statements.append(("queue", _queue_count(queue.group(1).strip())))
            queued = True
            continue
        statements.append(_statement(line, line))
    if not queued and extra:
        statements.extend(extra)
    return statements


def _statement(line, source):
    match = _ASSIGN.match(line.strip())
    if not match:
        raise SubmitError(f'Parse error in submit file: "{source}"')
    key, value = match.group(1), match.group(2).strip()
    if key.startswith("+"):
        return ("attr", key[1:], value)
    if key.lower().startswith("my."):
        return ("attr", key[3:], value)
    return ("set", key.lower(), value)


def _queue_count(rest: str) -> int:
    if not rest:
        return 1
    if re.fullmatch(r"\d+", rest):
        return int(rest)
    raise SubmitError(
        f'Unsupported queue statement "queue {rest}" (the stand-in supports "queue" and "queue N")'
    )


def expand(value: str, macros: dict, cluster: int, proc: int, depth: int = 0) -> str:
    """Expand ``$(...)`` macros in ``value`` for one proc."""
    if depth > 32:
        raise SubmitError(f"Macro expansion too deep (recursive definition?) in: {value}")

    def replace(match):
        name, default = match.group(1), match.group(2)
        special = SPECIAL.get(name.lower())
        if special == "cluster":
            return str(cluster)
        if special == "proc":
            return str(proc)
        if name.lower() in ("step", "row"):
            return "0"
        raw = macros.get(name.lower())
        if raw is None:
            return default if default is not None else ""
        return expand(raw, macros, cluster, proc, depth + 1)

    value = _ENV_MACRO.sub(lambda m: os.environ.get(m.group(1), ""), value)
    previous = None
    while previous != value:
        previous = value
        value = _MACRO.sub(replace, value)
    return value


def parse_arguments(value: str) -> list[str]:
    """Split an ``arguments`` value (new syntax when double-quoted, else old syntax).

    :raises SubmitError: on unbalanced quotes.
    """
    value = value.strip()
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        return _split_new_syntax(value[1:-1].replace('""', '"'), "arguments")
    if value.startswith('"'):
        raise SubmitError(f"Found unbalanced double quote in arguments: {value}")
    return [part.replace('\\"', '"') for part in value.split()]


def _split_new_syntax(text: str, what: str) -> list[str]:
    args, current, in_quote, has_token, i = [], [], False, False, 0
    while i < len(text):
        char = text[i]
        if in_quote:
            if char == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    current.append("'")
                    i += 1
                else:
                    in_quote = False
            else:
                current.append(char)
        elif char == "'":
            in_quote = True
            has_token = True
        elif char.isspace():
            if has_token:
                args.append("".join(current))
                current, has_token = [], False
        else:
            current.append(char)
            has_token = True
        i += 1
    if in_quote:
        raise SubmitError(f"Found unbalanced single quote in {what}: {text}")
    if has_token:
        args.append("".join(current))
    return args


def arguments_ad(args: list[str]) -> str:
    """The ``Arguments`` attribute (new syntax) for a list of arguments."""
    out = []
    for arg in args:
        if arg == "" or any(c.isspace() or c in "'\"" for c in arg):
            out.append("'" + arg.replace("'", "''").replace('"', '""') + "'")
        else:
            out.append(arg)
    return " ".join(out)


def parse_environment(value: str) -> dict[str, str]:
    """Parse an ``environment`` value (new syntax when double-quoted, else ``A=1;B=2``)."""
    value = value.strip()
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        items = _split_new_syntax(value[1:-1].replace('""', '"'), "environment")
    else:
        items = [item for item in value.split(";") if item.strip()]
    env = {}
    for item in items:
        name, sep, val = item.partition("=")
        if not sep or not name.strip():
            raise SubmitError(f"Invalid environment entry: {item}")
        env[name.strip()] = val
    return env


def split_list(value: str) -> list[str]:
    """Split a comma- or space-separated file list (``transfer_input_files``)."""
    return [part for part in re.split(r"[,\s]+", value.strip()) if part]


def truthy(value: str | None, default=False) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("true", "yes", "1", "t", "y")
