"""A changelist page's rows loaded with only the fields its columns read.

A job row has about 46 columns of its own (Tethys's has 14) and each job class adds its
table's: loading a page of 100 rows whole converted about 500 dates and 170 JSON values
no column shows, and compiling the query's 73 columns cost as much again (issue 17:
about 9 ms of page 1's 60). The changelist's columns read a handful of fields: the
fields named in ``list_display``, and for each column that is a method of the admin, the
fields it reads, which the admin declares in ``list_display_reads``::

    list_display_reads = {"owner": ("user_id",), "action_checkbox": ("name",)}

The page is then loaded with ``only()`` of those fields and of each job class's primary
key (so that each row is still its own class, ``select_subclasses``); every other field
is deferred, as Django defers it: read from the database if asked.

A page is loaded whole when the admin declares nothing, when a column is neither a field
nor declared, and for an editable changelist (its forms read every field). A column
that reads a field it did not declare still shows the right value, at a query per row:
the first such page is noticed (:func:`watch`), logged, and that admin's later pages
are loaded whole.
"""

from __future__ import annotations

import contextlib
import logging

from django.core.exceptions import FieldDoesNotExist
from django.db import connections
from django.db.models import QuerySet
from django.db.models.constants import LOOKUP_SEP

logger = logging.getLogger(__name__)

#: Admin classes whose columns read a field they did not declare: loaded whole.
_READS_MORE: set = set()


def page_fields(model_admin, list_display, model):
    """The names of the fields of ``model`` that the columns ``list_display`` read, or
    ``None`` when the page must be loaded whole (see the module)."""
    reads = getattr(model_admin, "list_display_reads", None)
    if reads is None or type(model_admin) in _READS_MORE:
        return None
    opts = model._meta
    names = [opts.pk.attname]
    for column in list_display:
        if isinstance(column, str) and column in reads:
            names.extend(reads[column])
            continue
        if not isinstance(column, str) or LOOKUP_SEP in column:
            return None
        try:  # a field first, as Django's lookup_field looks
            field = opts.get_field(column)
        except FieldDoesNotExist:
            return None  # a method or property that declares nothing
        if not field.concrete or field.is_relation:
            return None  # a related object (Django shows it through a join)
        names.append(field.attname)
    return list(dict.fromkeys(names))


def _pk_paths(queryset):
    """The primary key of each joined job class of a ``select_subclasses()`` queryset,
    as ``only()`` names it (e.g. ``"condorbase__condorjob__condorbase_ptr"``)."""
    paths = []
    for path in getattr(queryset, "subclasses", None) or ():
        model = queryset.model
        for name in path.split(LOOKUP_SEP):
            model = model._meta.get_field(name).related_model
        paths.append(f"{path}{LOOKUP_SEP}{model._meta.pk.name}")
    return paths


def narrowed(rows, cl):
    """``rows`` (the page's queryset) loading only the fields ``cl``'s columns read."""
    if cl.list_editable or not isinstance(rows, QuerySet):
        return rows
    names = page_fields(cl.model_admin, cl.list_display, rows.model)
    if names is None:
        return rows
    return rows.only(*names, *_pk_paths(rows))


@contextlib.contextmanager
def watch(cl):
    """While the rows of ``cl`` are shown: a query means a column read a field its page
    did not load; that admin's later pages are loaded whole (see the module)."""
    rows = cl.result_list
    query = getattr(rows, "query", None)
    if query is None or query.deferred_loading[1]:
        yield  # not a page of some fields (``only()``)
        return
    ran = []

    def noticed(execute, sql, params, many, context):
        ran.append(sql)
        return execute(sql, params, many, context)

    with connections[rows.db].execute_wrapper(noticed):
        yield
    if ran:
        _READS_MORE.add(type(cl.model_admin))
        logger.warning(
            "The changelist of %s read fields its page did not load (%d queries, e.g. "
            "%s): its columns' fields are missing from list_display_reads; its pages are "
            "loaded whole from now on.", type(cl.model_admin).__name__, len(ran), ran[0])
