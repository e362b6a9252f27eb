"""Server-side paging, sorting and search of a jobs table (``enable_data_table``).

A table built from a query pages by re-running it (its ``source``, in its default
order); a table of a fixed list pages through the ids it was rendered with (in a signed
token). Either way narrowed to the jobs the viewer may see. Sorting is done by the
database on the column's field. Search and the count of a table over a query are those
of ``tethys_compute.bounded`` (shared with the job admin): a search matches a job's id,
the start of its name, and any part of its name or description among the query's newest
``SEARCH_WINDOW`` jobs; the count stops at ``COUNT_LIMIT`` ("more than 10,000 jobs"), and
the pages reach the first ``COUNT_LIMIT`` jobs.
"""

from __future__ import annotations

import hashlib
import math

from django.db.models import F, Func

from ..bounded import capped_count, clean_text, search_jobs
from .access import table_jobs
from .columns import sort_expression
from .query import pinned_user


def _page_info(total: int, length: int, number: int) -> tuple[int, int]:
    pages = max(1, math.ceil(total / length))
    return pages, min(max(1, number), pages)


def first_page(jobs: list, length: int) -> dict:
    """The first page of an ordered list of jobs (or of their ids)."""
    pages, number = _page_info(len(jobs), length, 1)
    return {"jobs": jobs[:length], "number": number, "pages": pages, "total": len(jobs),
            "length": length}


def load_jobs(ids: list[int], known: dict) -> list:
    """The jobs of ``ids`` in that order, as their own classes: those in ``known`` (by
    id) as they are, the others in one query; ids of jobs gone meanwhile are skipped."""
    from ..models import TethysJob

    missing = [pk for pk in ids if pk not in known]
    found = dict(known)
    if missing:
        found.update((job.pk, job) for job in
                     TethysJob.objects.filter(pk__in=missing).select_subclasses())
    return [found[pk] for pk in ids if pk in found]


class _LazyJobs:
    """The jobs of a page's ids, loaded (one query, as their own classes) when first
    used; a poll that finds the page unchanged never loads them."""

    def __init__(self, ids, known):
        self.ids, self.known, self.loaded = ids, known, None

    def _load(self):
        if self.loaded is None:
            self.loaded = load_jobs(self.ids, self.known)
        return self.loaded

    def __iter__(self):
        return iter(self._load())

    def __len__(self):
        return len(self._load())

    def __getitem__(self, index):
        return self._load()[index]


def digest(page: dict) -> str:
    """A short fingerprint of what a page shows (its jobs in order, its number, the
    count of pages and jobs): a poll compares it to tell whether to send the page."""
    ids = page["ids"] if "ids" in page else [job.pk for job in page["jobs"]]
    more = "+" if page.get("more") else ""
    text = f"{page['number']}/{page['pages']}/{page['total']}{more}/" + ",".join(map(str, ids))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def flip(order: list[str]) -> list[str]:
    return [name[1:] if name.startswith("-") else f"-{name}" for name in order]


def _slice(ordered, backwards, start: int, length: int, total: int) -> list[int]:
    """The ids of rows ``start`` to ``start + length`` of ``ordered``. A page in the
    second half is read from the end (``backwards``, the exact reverse order, with the
    offset counted from the last row, the ids put back in order), so the last pages cost
    what the first ones do instead of skipping all the rows before them. ``backwards``
    is ``None`` when the order does not end with the primary key (then it is not the
    exact reverse)."""
    end = min(start + length, total)
    if backwards is not None and start > total // 2:
        ids = list(backwards.values_list("pk", flat=True)[total - end:total - start])
        return ids[::-1]
    return list(ordered.values_list("pk", flat=True)[start:end])


class _NoIndexOrder(Func):
    """A column's value unchanged, written ``+column`` on SQLite (a no-op there) so that
    its planner does not walk an index in the column's order. For a table of one user's
    jobs: reading the ``(label, user)`` index and sorting that user's rows is far
    cheaper than walking the whole app's ``(label, name)`` index, but SQLite, without
    statistics, prefers whatever avoids a sort. PostgreSQL gets the plain column."""

    template = "%(expressions)s"

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="+%(expressions)s", **extra_context)


def _sorted(base, expression: str, descending: bool, one_user: bool):
    """``base`` ordered by ``expression`` then by id, in the same direction (an index on
    (label, column) holds ties so: SQLite's rowid, PostgreSQL's incremental sort)."""
    key: F | Func = F(expression)
    if one_user and "__" not in expression:
        key = _NoIndexOrder(key)
    return base.order_by(key.desc() if descending else key.asc(),
                         "-pk" if descending else "pk")


def page_of(user, config, ids: list[int] | None, number: int = 1, sort: int | None = None,
            descending: bool = False, query: str = "", known: dict | None = None) -> dict:
    """One page of a table's jobs as ``{"jobs", "number", "pages", "total", "more",
    "length"}``: ``more`` when the table has more than ``total`` jobs (its count stopped
    at ``COUNT_LIMIT``; only the first ``COUNT_LIMIT`` are paged through).

    :param ids: the table's job ids in its default order; ``None`` for a table built
        from a query (``config.source``), which is re-run.
    :param number: page number, from 1 (clamped to the pages there are).
    :param sort: index of the column to sort by (``None``: default order). Columns the
        database cannot sort by, or sorting switched off, keep the default order.
    :param query: search text (``tethys_compute.bounded.search_jobs``: the id, the start
        of the name, or part of the name or description among the newest jobs).
    :param known: jobs already loaded, by id (reused, not loaded again). The page's ids
        are read first (no joins of the job types' tables), then only the other jobs.
    """
    from ..models import TethysJob

    data_table = config.data_table or {}
    paging = bool(data_table.get("paging"))
    base = table_jobs(user, config)
    if ids is not None:
        base = base.filter(pk__in=ids)
    query = clean_text(query)
    if query and data_table.get("searching"):
        base = search_jobs(base, query)
    expression = None
    if sort is not None and data_table.get("ordering") and 0 <= sort < len(config.columns):
        expression = sort_expression(config.columns[sort])
    if expression or ids is None:
        if expression:
            one_user = config.source is not None and pinned_user(config.source) is not None
            ordered = _sorted(base, expression, descending, one_user)
            backwards = _sorted(base, expression, not descending, one_user)
        else:
            order = list(config.source["o"])
            order = flip(order) if descending else order
            ordered = base.order_by(*order)
            backwards = base.order_by(*flip(order)) if order and \
                order[-1] in ("pk", "-pk", "id", "-id") else None
        # Counted up to COUNT_LIMIT (an unpaged table shows them all: it is not limited).
        total, more = capped_count(ordered) if paging else (ordered.count(), False)
        length = data_table.get("page_length", 10) if paging else max(total, 1)
        pages, number = _page_info(total, length, number)
        start = (number - 1) * length
        # Past COUNT_LIMIT the end of the list is not known: never read from it.
        wanted = _slice(ordered, None if more else backwards, start, length, total)
        return {"ids": wanted, "number": number, "pages": pages, "total": total,
                "more": more, "length": length, "jobs": _LazyJobs(wanted, known or {})}
    else:
        visible = set(base.values_list("pk", flat=True))
        order = [pk for pk in ids if pk in visible]
        if descending:
            order.reverse()
        total = len(order)
        length = data_table.get("page_length", 10) if paging else max(len(ids), 1)
        pages, number = _page_info(total, length, number)
        start = (number - 1) * length
        wanted = order[start:start + length]
        loaded = {
            job.pk: job for job in TethysJob.objects.filter(pk__in=wanted).select_subclasses()
        }
        jobs = [loaded[pk] for pk in wanted if pk in loaded]
    return {"jobs": jobs, "number": number, "pages": pages, "total": total, "more": False,
            "length": length}
