"""The query of a jobs table built from a queryset, as plain data a signed token carries.

A table over ``job_manager.list_jobs(...)`` (or any queryset of jobs) keeps *the query*
in its signed configuration, not the ids of its jobs: its pages, sorting, search and
live updates re-run it, so they cost the same with 100 or 1,000,000 jobs, and a job
created later that matches it shows up. :func:`describe` turns a queryset into JSON
data (its model, its ``WHERE`` tree, its order) and :func:`rebuild` turns that back
into a queryset.

Only what can be rebuilt exactly is described: lookups on the fields of the job model
itself (and of its parent tables), with their transforms (``extended_properties__a``,
``creation_time__year``), joined by AND/OR/NOT, with values that are JSON, dates,
decimals, UUIDs or a subquery of the same kind (``list_jobs(groups=...)``'s
``pk__in`` subquery of the groups table), and an order of field names. Anything else (a
lookup across a relation such as ``user__username``, annotations, ``extra()``, raw SQL,
slices, unions) makes :func:`describe` return ``None``: the table then keeps the list of
its jobs, as a table built from a list does.
"""

from __future__ import annotations

import datetime
import decimal
import uuid

from django.apps import apps
from django.db.models import Model, Q
from django.db.models.expressions import Col
from django.db.models.fields.json import KeyTransform
from django.db.models.lookups import Lookup, Transform
from django.db.models.sql.query import Query
from django.db.models.sql.where import WhereNode


class Unsupported(Exception):
    """Part of a query that :func:`describe` cannot carry."""


def describe(queryset) -> dict | None:
    """``{"m": model label, "w": where tree, "o": [order fields]}`` of ``queryset``, or
    ``None`` when it cannot be rebuilt exactly (see the module's documentation)."""
    try:
        spec = _describe_query(queryset.query)
        spec["o"] = _order(queryset.query)
    except Unsupported:
        return None
    return spec


def _describe_query(query: Query) -> dict:
    if query.combinator or query.extra or query.annotations or query.low_mark or \
            query.high_mark is not None or query.distinct_fields or query.extra_tables:
        raise Unsupported("query shape")
    model = query.model
    if model is None:
        raise Unsupported("no model")
    return {"m": model._meta.label_lower, "w": _node(query.where, model)}


def _order(query: Query) -> list[str]:
    model = query.model
    given = list(query.order_by) or (
        list(model._meta.ordering or ()) if query.default_ordering and model is not None else [])
    fields = [name for name in given if isinstance(name, str) and name and name != "?"]
    if len(fields) != len(given):
        raise Unsupported("order")
    if not query.standard_ordering:
        fields = [name[1:] if name.startswith("-") else f"-{name}" for name in fields]
    return fields


def _node(node, model) -> list:
    if isinstance(node, WhereNode):
        return ["n", node.connector, bool(node.negated), [_node(c, model) for c in node.children]]
    if isinstance(node, Lookup):
        return ["l", _path(node.lhs, model) + [node.lookup_name], _value(node.rhs)]
    raise Unsupported(type(node).__name__)


def _path(lhs, model) -> list[str]:
    if isinstance(lhs, KeyTransform):
        return _path(lhs.lhs, model) + [str(lhs.key_name)]
    if isinstance(lhs, Transform) and lhs.lookup_name:
        return _path(lhs.lhs, model) + [lhs.lookup_name]
    if isinstance(lhs, Col):
        owner = lhs.target.model._meta.concrete_model
        if owner is not model._meta.concrete_model and \
                owner not in model._meta.get_parent_list():
            raise Unsupported("lookup across a relation")
        return [lhs.target.name]
    raise Unsupported(type(lhs).__name__)


def _value(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return {"$l": [_value(item) for item in value]}
    if isinstance(value, dict):
        return {"$j": {str(key): _value(item) for key, item in value.items()}}
    if isinstance(value, datetime.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$d": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$dec": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$u": str(value)}
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, Query):
        selected = list(value.values_select)
        if len(selected) != 1:
            raise Unsupported("subquery selecting other than one field")
        return {"$q": {**_describe_query(value), "v": selected[0]}}
    raise Unsupported(type(value).__name__)


# --- back to a queryset ---------------------------------------------------------------------
def rebuild(spec: dict):
    """The queryset described by ``spec`` (unordered), as ``spec``'s model.

    :raises ValueError: if ``spec`` is malformed (it comes from a signed token, so only
        a server-side change between rendering and the request makes it so).
    """
    model, condition = _parse(spec)
    return model._default_manager.filter(condition)


def restrict(jobs, spec: dict):
    """``jobs`` (a ``TethysJob`` queryset) narrowed to those matching ``spec``: its
    conditions added to the same query for the job model, a ``pk IN (subquery)`` for a
    subclass's query.

    :raises ValueError: if ``spec`` is malformed.
    """
    model, condition = _parse(spec)
    if model is jobs.model:
        return jobs.filter(condition)
    return jobs.filter(pk__in=model._default_manager.filter(condition).values("pk"))


def _parse(spec):
    try:
        return apps.get_model(spec["m"]), _q(spec["w"])
    except (LookupError, KeyError, TypeError, IndexError, ValueError) as exc:
        raise ValueError(f"malformed table query: {exc}") from exc


def _q(node) -> Q:
    if node[0] == "n":
        _, connector, negated, children = node
        return Q(*[_q(child) for child in children], _connector=str(connector),
                 _negated=bool(negated))
    _, path, value = node
    return Q(**{"__".join(path): _load(value)})


def _load(value):
    if not isinstance(value, dict):
        return value
    (tag, data), = value.items()
    if tag == "$l":
        return [_load(item) for item in data]
    if tag == "$j":
        return {key: _load(item) for key, item in data.items()}
    if tag == "$dt":
        return datetime.datetime.fromisoformat(data)
    if tag == "$d":
        return datetime.date.fromisoformat(data)
    if tag == "$dec":
        return decimal.Decimal(data)
    if tag == "$u":
        return uuid.UUID(data)
    if tag == "$q":
        return rebuild(data).values(data["v"])
    raise ValueError(f"unknown value tag {tag!r}")


def pinned_labels(spec: dict) -> list[str] | None:
    """The app labels the query itself pins (``label=`` or ``label__in=`` at its top
    level, not negated), or ``None``."""
    where = spec["w"]
    if where[0] != "n" or where[1] != "AND" or where[2]:
        return None
    for child in where[3]:
        if child[0] == "l" and child[1] == ["label", "exact"] and isinstance(child[2], str):
            return [child[2]]
        if child[0] == "l" and child[1] == ["label", "in"] and isinstance(child[2], dict):
            return sorted(str(label) for label in child[2].get("$l", []))
    return None


def pinned_user(spec: dict) -> int | None:
    """The owner's id the query itself pins (``user=`` at its top level, not negated, as
    ``list_jobs(user=...)`` does), or ``None``."""
    where = spec["w"]
    if where[0] != "n" or where[1] != "AND" or where[2]:
        return None
    for child in where[3]:
        if child[0] == "l" and child[1] in (["user", "exact"], ["user_id", "exact"]) and \
                isinstance(child[2], int) and not isinstance(child[2], bool):
            return child[2]
    return None
