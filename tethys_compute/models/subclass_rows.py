"""Rows of ``select_subclasses()`` built once, as their own class.

``JobManager.list_jobs()`` and ``get_job()`` return every job as its own class (a
``BasicJob``, a ``CondorJob``...), as Tethys does, through django-model-utils'
``select_subclasses()``: one query that LEFT JOINs every job class's table. Its iterable
builds, for each row, a ``TethysJob`` from the base columns, then (Django's
``select_related``) every subclass object whose columns are not NULL, each from the whole
row again, then walks the subclass relations to pick the deepest one, catching a
``DoesNotExist`` for each missing subclass on the way. The ``TethysJob`` object and the
intermediate ones are thrown away.

:class:`SubclassIterable` gives the same objects building one per row: the deepest of the
queryset's ``subclasses`` whose primary key column is not NULL (the order model-utils
tries them in: longest path first), from the columns Django's own ``select_related``
would build it from; the base class when none is. Annotations and ``extra()`` columns
are set on it, as model-utils copies them. The one difference: the returned object does
not hold the thrown-away parent objects in its relation cache (``job.tethysjob_ptr``
reads the parent row when asked, as on a job loaded any other way).

Querysets it does not cover keep model-utils' iterable: ``select_related()`` of other
relations (or of all), related managers' known objects, and Django 6.1's peer-tracking
fetch mode.
"""

from __future__ import annotations

import operator
from itertools import chain

from django.db.models.constants import LOOKUP_SEP
from django.db.models.expressions import ColPairs
from django.db.models.query import ModelIterable
from model_utils.managers import InheritanceIterable


def _subclass_infos(klass_info, path):
    """The ``klass_info`` of the relation path ``path`` (e.g. ``"condorbase__condorjob"``)."""
    info = klass_info
    for name in path.split(LOOKUP_SEP):
        info = next(related for related in info["related_klass_infos"]
                    if related["field"].remote_field.get_accessor_name() == name)
    return info


def _paths(tree, prefix=""):
    for name, subtree in tree.items():
        path = prefix + name
        yield path
        yield from _paths(subtree, path + LOOKUP_SEP)


def _covered(queryset, subclasses) -> bool:
    """Whether the queryset joins only the tables of its ``subclasses`` (and of the
    classes between them and the base), with nothing this iterable leaves out."""
    tree = queryset.query.select_related
    if not isinstance(tree, dict) or queryset._known_related_objects:
        return False
    if getattr(getattr(queryset, "_fetch_mode", None), "track_peers", False):
        return False  # Django 6.1's FETCH_PEERS links the objects of one fetch
    wanted: set[str] = set()
    for path in subclasses:
        parts = path.split(LOOKUP_SEP)
        wanted.update(LOOKUP_SEP.join(parts[:i]) for i in range(1, len(parts) + 1))
    return all(path in wanted for path in _paths(tree))


def _keeps_none(converters, expression, connection) -> bool:
    """Whether a column's converters give ``None`` for ``None`` (SQL NULL): Django's
    date, time, JSON and boolean converters do. Asked once per query and column."""
    value = None
    try:
        for converter in converters:
            value = converter(value, expression, connection)
    except Exception:  # noqa: BLE001 - a converter that cannot take None: always call it
        return False
    return value is None


def _converted(compiler, results):
    """The rows of ``results`` with the values converted as ``compiler.results_iter()``
    converts them, calling a column's converters only for a value that is not NULL
    when they give NULL for NULL (most of a job row's columns are NULL)."""
    fields = [s[0] for s in compiler.select[0:compiler.col_count]]
    if any(isinstance(field, ColPairs) for field in fields):
        return compiler.results_iter(results)
    connection = compiler.connection
    columns = [(pos, convs, expression, _keeps_none(convs, expression, connection))
               for pos, (convs, expression) in compiler.get_converters(fields).items()]
    rows = chain.from_iterable(results)
    if not columns:
        return rows
    return _apply(rows, columns, connection)


def _apply(rows, columns, connection):
    for row in map(list, rows):
        for pos, converters, expression, keeps_none in columns:
            value = row[pos]
            if value is None and keeps_none:
                continue
            for converter in converters:
                value = converter(value, expression, connection)
            row[pos] = value
        yield row


def _builder(info, select):
    """(model, attnames, getter of its values from a row, index of its pk) for the
    subclass of ``info``, in the model's concrete field order (as Django's
    RelatedPopulator builds it)."""
    model = info["model"]
    indexes = {select[i][0].target.attname: i for i in info["select_fields"]}
    attnames = [f.attname for f in model._meta.concrete_fields if f.attname in indexes]
    positions = [indexes[name] for name in attnames]
    getter = operator.itemgetter(*positions)
    return model, attnames, getter, indexes[model._meta.pk.attname]


class SubclassIterable(InheritanceIterable):
    """The iterable of ``TethysJobQuerySet``: see the module's docstring."""

    def __iter__(self):
        queryset = self.queryset
        subclasses = getattr(queryset, "subclasses", None)
        if not subclasses:
            return iter(ModelIterable(queryset, self.chunked_fetch, self.chunk_size))
        if not _covered(queryset, subclasses):
            return iter(InheritanceIterable(queryset, self.chunked_fetch, self.chunk_size))
        return self._rows(queryset, subclasses)

    def _rows(self, queryset, subclasses):
        db = queryset.db
        fetch_mode = getattr(queryset, "_fetch_mode", None)  # Django 6.1
        extra = {} if fetch_mode is None else {"fetch_mode": fetch_mode}
        compiler = queryset.query.get_compiler(using=db)
        results = compiler.execute_sql(chunked_fetch=self.chunked_fetch,
                                       chunk_size=self.chunk_size)
        select, klass_info = compiler.select, compiler.klass_info
        annotations = list(compiler.annotation_col_map.items())
        builders = [_builder(_subclass_infos(klass_info, path), select)
                    for path in sorted(subclasses, key=len, reverse=True)]
        base = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        base_names = [f[0].target.attname for f in select[start:end]]
        for row in _converted(compiler, results):
            for model, attnames, getter, pk_index in builders:
                if row[pk_index] is not None:
                    obj = model.from_db(db, attnames, getter(row), **extra)
                    break
            else:
                obj = base.from_db(db, base_names, row[start:end], **extra)
            for name, position in annotations:
                setattr(obj, name, row[position])
            yield obj
