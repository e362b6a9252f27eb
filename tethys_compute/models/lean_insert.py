"""A new job's INSERT: only the columns that hold a value, with SQL built once.

A job row has about 45 columns, most of them empty (NULL) until the job runs; Django's
INSERT names every column and binds every value, so a new job's ``save()`` paid for a
row wider than Tethys's. Leaving a nullable column out of the INSERT stores the same
NULL (the column has no database default unless the field declares ``db_default``, and
such fields are always written), so only columns with a value are written.

Django also compiles each INSERT anew (an ``InsertQuery``, its compiler, the column list
and placeholders), which cost about as much CPU as SQLite's own work for the row. The
statement only depends on the table, the columns written and the columns returned, so it
is built once per such set (by Django's own compiler, the first time) and reused: later
saves prepare each value as Django does (``Field.pre_save`` then
``Field.get_db_prep_save``) and run the kept SQL through the connection's cursor (so
``execute_wrappers`` and query logging see it as usual). Anything the kept statement
cannot express (a value that is an expression, a field with its own placeholder, a
backend without ``INSERT ... RETURNING``, converters on a returned column) goes through
Django's compiler as before.
"""

from __future__ import annotations

from django.db import connections
from django.db.models import sql as django_sql

#: (model, database alias, fields written, fields returned) -> (SQL, returning params),
#: or None when that INSERT must go through Django's compiler each time.
_STATEMENTS: dict = {}
_VENDORS = ("sqlite", "postgresql")


#: Per field: whether it is left out of an INSERT when None; per model class: the
#: attnames of those fields. Worked out once, kept here rather than on Django's objects.
_OMITTABLE: dict = {}
_OMITTABLE_NAMES: dict = {}


def _omittable(field) -> bool:
    flag = _OMITTABLE.get(field)
    if flag is None:
        flag = _OMITTABLE[field] = (
            field.null and not field.primary_key and not field.has_db_default()
            and not getattr(field, "auto_now", False)
            and not getattr(field, "auto_now_add", False))
    return flag


def _omittable_names(model) -> frozenset:
    """The attnames of ``model``'s fields left out of an INSERT when None (once per class)."""
    names = _OMITTABLE_NAMES.get(model)
    if names is None:
        names = _OMITTABLE_NAMES[model] = frozenset(
            f.attname for f in model._meta.concrete_fields if _omittable(f))
    return names


def _statement(model, using, fields, returning_fields, instance):
    """The SQL of the INSERT of one row of ``model`` into ``fields`` (built by Django's
    compiler from ``instance``), or None when it cannot be kept."""
    connection = connections[using]
    if connection.vendor not in _VENDORS or any(
            hasattr(f, "get_placeholder") for f in fields):
        return None
    if returning_fields and not connection.features.can_return_columns_from_insert:
        return None
    query = django_sql.InsertQuery(model)
    query.insert_values(fields, [instance], raw=True)  # raw: no second pre_save()
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = returning_fields
    if returning_fields and compiler.get_converters(
            [f.get_col(model._meta.db_table) for f in returning_fields]):
        return None
    statements = compiler.as_sql()
    if len(statements) != 1:
        return None
    sql, params = statements[0]
    returning_params = tuple(getattr(compiler, "returning_params", ()) or ())
    if len(params) != len(fields) + len(returning_params):
        return None  # a value bound as more (or fewer) parameters than one
    return sql, returning_params


def _fast_path(instance, manager, using, fields, returning_fields):
    """Run the kept INSERT for ``instance``; None when Django's compiler must run it."""
    model = manager.model
    key = (model, using, tuple(fields), tuple(returning_fields or ()))
    entry = _STATEMENTS.get(key, False)
    if entry is None:
        return None
    connection = connections[using]
    values = []
    for field in fields:
        value = field.pre_save(instance, True)
        if hasattr(value, "resolve_expression"):
            return None
        values.append(field.get_db_prep_save(value, connection=connection))
    if entry is False:
        entry = _STATEMENTS[key] = _statement(model, using, fields, returning_fields,
                                              instance)
        if entry is None:
            return None
    sql, returning_params = entry
    with connection.cursor() as cursor:
        cursor.execute(sql, (*values, *returning_params))
        if not returning_fields:
            return []
        return _returned_rows(connection.ops, cursor, returning_params)


def _returned_rows(ops, cursor, returning_params) -> list:
    """The rows an ``INSERT ... RETURNING`` of one row returned, as Django's own INSERT
    reads them: ``fetch_returned_rows`` since Django 6.0, ``fetch_returned_insert_columns``
    (one row) before it."""
    fetch_rows = getattr(ops, "fetch_returned_rows", None)
    if fetch_rows is not None:
        return list(fetch_rows(cursor, returning_params))
    return [ops.fetch_returned_insert_columns(cursor, returning_params)]


class LeanInsert:
    """Mixin of ``TethysJob``: INSERTs without the empty nullable columns, their SQL kept
    per class and set of columns."""

    def _do_insert(self, manager, using, fields, returning_fields, raw):
        data = self.__dict__
        omittable = _omittable_names(type(self))
        fields = [f for f in fields
                  if not (f.attname in omittable and data.get(f.attname, 0) is None)]
        if not raw and fields:
            rows = _fast_path(self, manager, using, fields, returning_fields)
            if rows is not None:
                return rows
        return super()._do_insert(manager, using, fields, returning_fields, raw)
