"""Counts and searches of jobs whose cost does not grow with the number of jobs
(issue 17: 1,000,000 jobs). The job admin and the jobs table both use them.

Counts: :func:`capped_count` counts at most ``COUNT_LIMIT`` jobs (a ``COUNT`` over a
``LIMIT`` subquery) and says whether there are more; a page then says "more than
10,000" and pages through the first ``COUNT_LIMIT`` jobs only (sort, filter or search
to reach the others).

Search: :func:`search_jobs` matches a search text as

(a) the exact id of a job (text of digits, optionally after ``#``);
(b) the start of a job's name, any case, through the index ``tc_job_name_prefix``
    (:class:`NamePrefixIndex`);
(c) any part of the name or description, any case, among the query's newest
    ``SEARCH_WINDOW`` jobs (by id).

A query of fewer than ``SEARCH_WINDOW`` jobs finds what a plain substring search finds
(plus the job whose id is the text). Settings: docs/settings.rst; the design and the
plans it was checked with: docs/admin.rst ("Searching and counting at scale").
"""

from __future__ import annotations

from typing import NamedTuple

from django.core.paginator import Paginator
from django.db import connections, models
from django.db.backends.ddl_references import Statement, Table
from django.db.models import Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Collate, Lower
from django.utils.functional import cached_property
from django.utils.text import smart_split, unescape_string_literal

#: Longest search text used (longer text is cut).
MAX_SEARCH = 200
#: Largest id the database can hold (a longer number cannot be an id).
MAX_ID = 2**63 - 1


class NamePrefixIndex(models.Index):
    """An index for ``name__istartswith`` as Django writes it on each database.

    * SQLite: ``name COLLATE NOCASE``. Django writes ``"name" LIKE 'x%' ESCAPE '\\'``;
      SQLite's LIKE is case-insensitive, and its LIKE optimisation uses only an index of
      the ``NOCASE`` collation for it (https://sqlite.org/optoverview.html#the_like_optimization).
    * PostgreSQL: ``UPPER(name::text) text_pattern_ops``. Django writes
      ``UPPER("name"::text) LIKE UPPER('x%')``; ``text_pattern_ops`` lets a ``LIKE``
      prefix use the index whatever the database's collation
      (https://www.postgresql.org/docs/current/indexes-opclass.html).
    * Other databases: a plain index on ``name``.
    """

    def create_sql(self, model, schema_editor, using="", **kwargs):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            # Written out: Django's OpClass() needs django.contrib.postgres installed.
            quote = schema_editor.quote_name
            return Statement(
                "CREATE INDEX %(name)s ON %(table)s ((UPPER(%(column)s::text)) text_pattern_ops)",
                name=quote(self.name), table=Table(model._meta.db_table, quote),
                column=quote(self.fields[0]))
        if vendor == "sqlite":
            index = models.Index(Collate(F(self.fields[0]), "NOCASE"), name=self.name)
        else:
            index = models.Index(fields=self.fields, name=self.name)
        return index.create_sql(model, schema_editor, using=using, **kwargs)


def _config():
    from .conf import get_config

    return get_config()


class Counted(NamedTuple):
    """A count that stops at a limit: ``value`` jobs, and ``more`` when there are more
    than ``value`` (then ``value`` is the limit)."""

    value: int
    more: bool


def capped_count(queryset, limit: int | None = None) -> Counted:
    """Count the rows of ``queryset``, at most ``limit`` (default: the
    ``COUNT_LIMIT`` setting): ``SELECT COUNT(*) FROM (SELECT id ... LIMIT limit + 1)``,
    which stops reading after ``limit + 1`` rows. One query.

    :param queryset: any queryset of jobs (its ordering is dropped).
    :param limit: the most jobs counted (a positive int).
    :returns: :class:`Counted`.
    """
    limit = int(limit if limit is not None else _config()["COUNT_LIMIT"])
    found = queryset.order_by().values("pk")[:limit + 1].count()
    return Counted(min(found, limit), found > limit)


def clean_text(text) -> str:
    """Search text as searched: NUL removed (it cannot be in a stored name, and
    PostgreSQL refuses it in a query), surrounding spaces stripped, at most
    :data:`MAX_SEARCH` characters."""
    return str(text or "").replace("\x00", "").strip()[:MAX_SEARCH]


def _job_id(text: str) -> int | None:
    digits = text[1:] if text.startswith("#") else text
    if digits.isascii() and digits.isdigit() and 0 < int(digits) <= MAX_ID:
        return int(digits)
    return None


def _substring_q(text: str, words: bool) -> Q:
    def either(part):
        return Q(name__icontains=part) | Q(description__icontains=part)

    if not words:
        return either(text)
    parts = []
    for bit in smart_split(text):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1] and len(bit) > 1:
            bit = unescape_string_literal(bit)
        if bit:
            parts.append(either(bit))
    if not parts:
        return either(text)
    condition = parts[0]
    for part in parts[1:]:
        condition &= part
    return condition


class _IdIn(RawSQL):
    """``id = ANY(ids)`` of the jobs table (PostgreSQL): the ids as one array parameter."""

    def __init__(self, ids: list[int], using: str):
        from .models import TethysJob

        table = connections[using].ops.quote_name(TethysJob._meta.db_table)
        super().__init__(f"{table}.\"id\" = ANY(%s::bigint[])", (list(ids),),
                         output_field=models.BooleanField())


class _IdInPage(RawSQL):
    """``id = ANY(ARRAY(page))`` of the jobs table (PostgreSQL): ``page`` is a sliced
    queryset of jobs; its ids are read once (an InitPlan) and each row is then looked up
    by its key, whatever PostgreSQL estimates for the page's filters."""

    def __init__(self, page):
        from .models import TethysJob

        connection = connections[page.db]
        ids = page.values("pk")
        sql, params = ids.query.get_compiler(page.db).as_sql()
        table = connection.ops.quote_name(TethysJob._meta.db_table)
        super().__init__(f"{table}.\"id\" = ANY(ARRAY({sql}))", params,
                         output_field=models.BooleanField())


def search_jobs(queryset, text, *, words: bool = False, window: int | None = None,
                into=None):
    """Narrow ``queryset`` (jobs) to those matching ``text`` (see the module).

    :param queryset: a queryset of ``TethysJob`` (its filters define the window).
    :param text: the search text (cleaned with :func:`clean_text`; empty: no search).
    :param words: inside the window, match each word of ``text`` (quoted phrases kept
        together, as Django's admin search splits it) in the name or the description,
        rather than the whole text. The id and the name's start always take the whole
        text.
    :param window: how many of the query's newest jobs (by id) a substring is looked
        for in (default: the ``SEARCH_WINDOW`` setting).
    :param into: the queryset the matches are returned from when few names match (its
        rows, annotations and ``select_subclasses``; default: the model's default
        manager), narrowed to the matching jobs of ``queryset`` by a subquery of ids.
        The query's own filters then sit apart from the page's, in an ``EXISTS`` by id,
        so that SQLite looks the matches up by id instead of walking an index of a
        whole app, a status (or the page's order) to check each row against them.
    :returns: a queryset of the same jobs, narrowed. When at most ``COUNT_LIMIT``
        names start with ``text`` (one bounded read of the name index tells), the
        matches are found by a subquery of ids (``id IN (SELECT ...)``) searched by
        primary key, the name index and the window, and each is checked against the
        query's filters by id (``EXISTS``): the database never reads every job.
        Otherwise the query's rows are checked in its own order (a page of matches is
        met soon, as so many names match). Two queries (the check, then this one).
        On PostgreSQL the window is the ids from the query's ``SEARCH_WINDOW``-th newest
        on, every term in one ``WHERE`` clause, and the check reads the matching ids
        themselves (at most ``COUNT_LIMIT + SEARCH_WINDOW + 2``): when that is all of
        them, the query returned is ``id = ANY(those ids)`` (one array parameter),
        else the query's rows are checked in its own order. Also two queries.
    """
    from .models import TethysJob

    text = clean_text(text)
    if not text:
        return queryset
    config = _config()
    window = int(window if window is not None else config["SEARCH_WINDOW"])
    job_id = _job_id(text)
    by_id = Q(pk=job_id) if job_id is not None else Q(pk__in=[])
    limit = int(config["COUNT_LIMIT"])
    if into is None:
        into = queryset.model._default_manager.all()
    if connections[queryset.db].vendor == "postgresql":
        # The window as a range of ids (from the query's N-th newest id, an InitPlan run
        # once), so each term can use an index (the primary key, tc_job_name_prefix).
        # Nested id subqueries (below) made it pick nested loops over every row pair
        # for a table without statistics yet (just after a bulk insert).
        oldest = Subquery(queryset.order_by("-pk").values("pk")[window - 1:window])
        inside = Q(pk__gte=Coalesce(oldest, Value(0))) & _substring_q(text, words)
        terms = by_id | Q(name__istartswith=text) | inside
        # The matching ids first, when there are at most COUNT_LIMIT + the window + 1
        # (all of them then), then the jobs as ``id = ANY(array)``: one parameter, whose
        # length the planner knows. Given the terms in the page's own query, PostgreSQL
        # walked the page's order (tc_job_created) checking each row, expecting evenly
        # spread matches; the window's sit at the newest end: it read every job (0.8 s
        # for the jobs table's search, 0.5 s for the admin's, at 1,000,000 jobs). As an
        # ``IN (subquery)`` it was flattened into the same walk (20 s).
        most = limit + window + 1
        ids = list(queryset.filter(terms).order_by().values_list("pk", flat=True)[:most + 1])
        if len(ids) <= most:
            return into.filter(_IdIn(ids, queryset.db))
        # More match: the page's jobs are met soon in the query's own order.
        return queryset.filter(terms)
    starts = TethysJob._base_manager.filter(name__istartswith=text).order_by()
    few = not starts.values("pk")[limit:limit + 1].exists()
    newest = queryset.order_by("-pk").values("pk")[:window]
    inside = Q(pk__in=newest) & _substring_q(text, words)
    if few:
        # Few names start so (read from tc_job_name_prefix, at most COUNT_LIMIT + 1
        # entries): the matches are found by id, through the index and in the window,
        # then the query is narrowed to them.
        # Each match is then checked against the query's filters by id, in a correlated
        # EXISTS: given them beside the matches (``id IN (...) AND _status IN (...)``),
        # SQLite may read the query's own index (a whole status, a whole app) instead.
        found = TethysJob._base_manager.filter(
            by_id | Q(name__istartswith=text) | inside).values("pk")
        return into.filter(pk__in=found).filter(
            Exists(queryset.filter(pk=OuterRef("pk")).order_by().values("pk")))
    # Many names start so: the page's jobs are met soon in the query's own order, so
    # the terms are checked row by row there (LOWER(name) keeps the database from
    # fetching and sorting every name that starts so through the index first).
    return queryset.alias(_tc_lower_name=Lower("name")).filter(
        by_id | Q(_tc_lower_name__istartswith=text) | inside)


def count_text(counted: Counted) -> str:
    """How a count is shown: ``"1234"`` (as Django shows numbers), or
    ``"more than 10,000"`` when it stopped at its limit."""
    from django.utils.formats import number_format

    if counted.more:
        return f"more than {number_format(counted.value, force_grouping=True)}"
    return str(number_format(counted.value))


class CappedPaginator(Paginator):
    """Django's ``Paginator`` counting with :func:`capped_count`: past the limit,
    ``count`` is the limit, ``more`` is true, and the pages reach the first ``limit``
    objects (a later page number is an ``EmptyPage``, as past the end of a list)."""

    def __init__(self, *args, limit: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit = limit

    @cached_property
    def counted(self) -> Counted:
        return capped_count(self.object_list, self.limit)

    @cached_property
    def count(self) -> int:
        return self.counted.value

    @property
    def more(self) -> bool:
        return self.counted.more
