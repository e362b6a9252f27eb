"""One job by primary key, as its own class, with its SQL compiled once per database.

Every callback request loads one job as its own class (``get_subclass``: the base row
joined to every job type's table, about 80 columns over 7 joins). Django compiles a
query anew each time it runs; for this SELECT compiling costs several times what SQLite
takes to run it. Here it is compiled once per database (alias, backend and the set of
job classes) with a placeholder for the id; each load binds the id into the kept SQL and
turns the row into objects with Django's and django-model-utils' own iterables, so the
job is the one ``TethysJob.objects.get_subclass(pk=...)`` returns.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from django.db import connections, router

from ..models import TethysJob

#: Stands for the id in the kept SQL (no job has a negative id).
_PLACEHOLDER = -7_319_004_211


class _Prepared:
    __slots__ = ("queryset", "compiler", "sql", "params", "index")

    def __init__(self, queryset, compiler, sql, params, index):
        self.queryset, self.compiler = queryset, compiler
        self.sql, self.params, self.index = sql, params, index


_prepared: dict[tuple, _Prepared | None] = {}
_lock = threading.Lock()


def _prepare(alias: str, subclasses: tuple[str, ...]) -> _Prepared | None:
    queryset = TethysJob.objects.select_subclasses().filter(pk=_PLACEHOLDER).using(alias)
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    positions = [i for i, value in enumerate(params) if value == _PLACEHOLDER]
    if len(positions) != 1 or list(queryset.subclasses) != list(subclasses):
        return None  # not the expected shape: load the ordinary way
    return _Prepared(queryset, compiler, sql, tuple(params), positions[0])


def get_job(pk: int) -> Any:
    """The job with primary key ``pk`` as its own class (what
    ``TethysJob.objects.get_subclass(pk=pk)`` returns), or ``None``. One query.

    :param pk: a job id (int).
    """
    alias = router.db_for_read(TethysJob)
    connection = connections[alias]
    base = TethysJob.objects.all()
    subclasses = tuple(base._get_subclasses_recurse(TethysJob))
    key = (alias, connection.vendor, connection.settings_dict.get("ENGINE"), subclasses)
    prepared = _prepared.get(key, _lock)
    if prepared is _lock:
        with _lock:
            prepared = _prepared.get(key, _lock)
            if prepared is _lock:
                prepared = _prepared[key] = _prepare(alias, subclasses)
    if prepared is None:
        return TethysJob.objects.filter(pk=pk).select_subclasses().first()
    assert isinstance(prepared, _Prepared)
    params = list(prepared.params)
    params[prepared.index] = int(pk)
    bound = tuple(params)
    compiler = copy.copy(prepared.compiler)
    compiler.connection = connection  # this thread's connection
    compiler.as_sql = lambda *args, **kwargs: (prepared.sql, bound)
    queryset = prepared.queryset._chain()
    queryset.query.get_compiler = (
        lambda using=None, connection=None, elide_empty=True: compiler)
    rows = list(queryset)
    return rows[0] if rows else None
