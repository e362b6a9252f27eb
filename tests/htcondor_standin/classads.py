"""ClassAd values of the stand-in's job ads.

An ad is a dict ``{AttributeName: value}`` where a value is ``int``, ``float``, ``bool``,
``str`` or ``{"expr": "<ClassAd expression>"}`` for anything that is not a literal.
Attribute names are case-insensitive, as in HTCondor. Expressions and constraints are
evaluated by :mod:`.classad_expr`.
"""

from __future__ import annotations

import re

from . import classad_expr as cx

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def lookup(ad: dict, name: str):
    """Stored value of attribute ``name`` (case-insensitive), or ``None`` when undefined."""
    if name in ad:
        return ad[name]
    lowered = name.lower()
    for key, value in ad.items():
        if key.lower() == lowered:
            return value
    return None


def parse_value(text: str):
    """Turn the right-hand side of ``+Attr = <text>`` into a stored value.

    :raises ValueError: if the text is not a ClassAd expression.
    """
    text = text.strip()
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    try:
        tree = cx.parse(text)
    except cx.ParseError as exc:
        raise ValueError(f"Parse error in expression: {text}") from exc
    if tree[0] == "lit" and isinstance(tree[1], (str, bool)):
        return tree[1]
    if tree[0] == "lit" and tree[1] is cx.UNDEFINED:
        return None
    return {"expr": text}


def literal(value) -> str:
    """A value as ClassAd text (``condor_q -long``, ``%V``)."""
    if value is None or value is cx.UNDEFINED:
        return "undefined"
    if value is cx.ERROR:
        return "error"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return value["expr"]
    if isinstance(value, list):
        return "{ " + ", ".join(literal(v) for v in value) + " }"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def plain(value) -> str:
    """A value as ``%v`` prints it: strings without quotes, undefined as ``undefined``."""
    if isinstance(value, str):
        return value
    return literal(value)


def _resolver(ad, depth=0):
    def resolve(name):
        value = lookup(ad, name)
        if value is None:
            return cx.UNDEFINED
        if isinstance(value, dict):
            if depth > 20:
                return cx.ERROR
            try:
                return cx.evaluate(cx.parse(value["expr"]), _resolver(ad, depth + 1))
            except cx.ParseError:
                return cx.ERROR
        return value

    return resolve


def evaluate(ad: dict, expression: str):
    """Evaluate ``expression`` against ``ad``; ``None`` stands for undefined, and an
    error value is returned as :data:`classad_expr.ERROR`."""
    try:
        value = cx.evaluate(cx.parse(expression), _resolver(ad))
    except cx.ParseError:
        return cx.ERROR
    return None if value is cx.UNDEFINED else value


def compile_constraint(text: str):
    """A predicate ``ad -> bool`` for a ``-constraint`` expression.

    :raises ValueError: if the expression does not parse (condor_q reports it).
    """
    try:
        tree = cx.parse(text)
    except cx.ParseError as exc:
        raise ValueError(f'Error: Invalid constraint expression: "{text}"') from exc
    return lambda ad: cx.evaluate(tree, _resolver(ad)) is True
