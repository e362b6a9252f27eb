"""The queries that must stay cheap at 1,000,000 jobs use an index (issue 17).

Each test reads the database's own plan (SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL
``EXPLAIN``) and asserts the index's name is in it. PostgreSQL's planner prefers a
sequential scan of a table this small whatever the indexes, so its plans are read with
``enable_seqscan`` off: the index must still be *usable* for the query (a partial index
whose condition the query does not imply never is).
"""

from contextlib import contextmanager

import pytest
from django.db import connection, transaction

from tests.conftest import is_postgres
from tethys_compute.job_manager import JobManager
from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def planner():
    """A transaction in which PostgreSQL avoids sequential scans when it can."""
    with transaction.atomic():
        if is_postgres():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")
        yield


def plan(queryset):
    with planner():
        return queryset.explain()


@pytest.fixture
def jobs(user, other_user):
    made = []
    for i in range(30):
        for label in ("app_a", "app_b"):
            made.append(BasicJob.objects.create(
                name=f"j{i}", user=user if i % 2 else other_user, label=label))
    TethysJob.objects.filter(pk__in=[j.pk for j in made[::3]]).update(_status="RUN")
    if is_postgres():
        # Statistics of these rows, not of an earlier test's (autovacuum analyses the
        # table when it likes; seen: another module's app_a/app_b rows made the planner
        # walk the primary key for app_a).
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {TethysJob._meta.db_table}")
    return made


class App:
    package = "app_a"


def test_app_page_by_id_uses_label_id_index(jobs):
    text = plan(JobManager(App()).list_jobs()[:25])
    assert "tc_job_label_id" in text, text


def test_app_page_newest_first_uses_label_creation_index(jobs):
    text = plan(JobManager(App()).list_jobs(order_by="-creation_time")[:25])
    assert "tc_job_label_created" in text, text


def test_active_reads_active_jobs_only(jobs):
    """``active()``: tc_job_status_created searched once per active status, so no job
    that is not active is read (0023 dropped the partial tc_job_active, a second index
    every new job wrote)."""
    text = plan(TethysJob.objects.active())
    assert "tc_job_status_created" in text, text
    assert "SCAN" not in text and "Seq Scan" not in text, text


def test_active_keeps_its_meaning(jobs, user):
    other_active = BasicJob.objects.create(name="o1", user=user, label="app_a",
                                           extended_properties={"__other_status__": "Checking"})
    TethysJob.objects.filter(pk=other_active.pk).update(_status="OTH")
    expected = {j.pk for j in TethysJob.objects.all()
                if j._status in ("PEN", "SUB", "RUN", "VAR", "PAS", "OTH")}
    assert {j.pk for j in TethysJob.objects.active()} == expected
    assert other_active.pk in expected


# --- Columns NULL on every new job: partial indexes, so an INSERT writes neither --------


def _indexes():
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, TethysJob._meta.db_table)
    return {name: info for name, info in found.items() if info["index"]}


def test_a_new_job_writes_no_index_of_its_null_only_columns():
    """retry_due_at, quota_waiting_since and completion_time are NULL on every new job:
    only partial indexes cover them, and user_id has no index of its own (the
    (user, creation_time) index serves every lookup by user)."""
    with connection.cursor() as cursor:
        # Django's introspection does not say whether an index is partial: ask the database.
        if is_postgres():
            cursor.execute(
                "SELECT c.relname, i.indpred IS NOT NULL FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
                [TethysJob._meta.db_table])
        else:
            cursor.execute("SELECT name, partial FROM pragma_index_list(%s)",
                           [TethysJob._meta.db_table])
        partial = dict(cursor.fetchall())
    for name, info in _indexes().items():
        first = (info["columns"] or [None])[0]  # an expression index has no column
        if first in ("retry_due_at", "quota_waiting_since", "completion_time"):
            assert partial[name], f"{name} on {first} indexes every new job"
        assert info["columns"] != ["user_id"], f"{name}: user_id alone is indexed twice"
    names = set(_indexes())
    assert {"tc_job_retry_due", "tc_job_quota_waiting", "tc_job_user_created",
            "tc_job_completed"} <= names


def test_the_null_only_columns_partial_indexes_serve_their_queries(jobs):
    """A condition on the column (<= a time, IS NOT NULL) implies the partial index's."""
    from django.utils import timezone

    text = plan(TethysJob.objects.filter(retry_due_at__lte=timezone.now()).order_by(
        "retry_due_at")[:10])
    assert "tc_job_retry_due" in text, text
    text = plan(TethysJob.objects.filter(quota_waiting_since__isnull=False).order_by(
        "quota_waiting_since")[:10])
    assert "tc_job_quota_waiting" in text, text


# --- Pages in an order, ties by id: read in order from an index, no sort (PostgreSQL) -----


def sorts_of_jobs(text):
    """The steps of a plan that sort jobs' rows: PostgreSQL ``Sort``/``Incremental Sort``
    (a sort key of the jobs table, not of the job types' tables joined by primary key),
    SQLite ``USE TEMP B-TREE FOR ORDER BY``."""
    lines = text.splitlines()
    found = [line for line in lines if "TEMP B-TREE FOR ORDER BY" in line]
    for i, line in enumerate(lines):
        if "Sort" in line and "->" in line or line.lstrip().startswith(("Sort", "Incremental")):
            key = next((x for x in lines[i + 1:i + 3] if "Sort Key:" in x), "")
            if key and "_ptr_id" not in key and "testapp_" not in key:
                found.append(f"{line.strip()} {key.strip()}")
    return found


def analyzed():
    """Statistics, as autovacuum keeps them on a live site (PostgreSQL plans by them)."""
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {TethysJob._meta.db_table}")


def test_a_users_page_by_id_is_read_in_order(jobs, user):
    """``list_jobs(user)[:25]`` (by id, either way): the user's jobs of the app in id
    order from ``tc_job_label_user`` (label, user, id). Before it ended with ``user``,
    PostgreSQL at 1,000,000 jobs walked the primary key filtering 72,000 other jobs out
    (or sorted all the user's jobs)."""
    analyzed()
    for order in ("id", "-id"):
        text = plan(JobManager(App()).list_jobs(user=user, order_by=order)[:25])
        assert "tc_job_label_user" in text, text
        assert not sorts_of_jobs(text), text


@pytest.mark.parametrize("column", ["_status", "name", "creation_time"])
def test_a_whole_apps_table_sorted_by_a_column_is_read_in_order(jobs, column):
    """A table's page sorted by a column, ties by id in the column's direction
    (``jobs_table.pages._sorted``), both ways: read from ``tc_job_label_<column>``
    without sorting. With (label, _status) alone PostgreSQL sorted a whole status's
    jobs by id (Incremental Sort: 280,000 rows, 291 ms at 1,000,000 jobs)."""
    from tethys_compute.jobs_table.pages import _sorted

    analyzed()
    index = {"_status": "tc_job_label_status", "name": "tc_job_label_name",
             "creation_time": "tc_job_label_created"}[column]
    base = TethysJob.objects.filter(label="app_a")
    for descending in (False, True):
        text = plan(_sorted(base, column, descending, one_user=False).values("pk")[10:20])
        assert index in text, text
        assert not sorts_of_jobs(text), text
# --- What a new job's INSERT costs: each index it writes is one more B-tree to update ----


def _index_conditions(table):
    """{index name: its partial condition (SQL) or None}, primary key left out."""
    with connection.cursor() as cursor:
        if is_postgres():
            cursor.execute(
                "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary", [table])
            return dict(cursor.fetchall())
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                       "AND tbl_name = %s", [table])
        found = {}
        for name, sql in cursor.fetchall():
            # The autoindex of a non-INTEGER primary key has no SQL.
            found[name] = sql.split(" WHERE ", 1)[1] if sql and " WHERE " in sql else None
        return found


def _indexes_written_by(job):
    table = TethysJob._meta.db_table
    written = []
    with connection.cursor() as cursor:
        for name, condition in _index_conditions(table).items():
            if condition is None:
                written.append(name)
                continue
            cursor.execute(f'SELECT 1 FROM "{table}" WHERE id = %s AND ({condition})', [job.pk])
            if cursor.fetchone():
                written.append(name)
    return sorted(written)


def test_a_new_job_writes_few_indexes(user):
    """Each index a new job's INSERT writes costs it a B-tree update (CPU, and a page
    written to the journal and the database at commit): columns NULL or empty on every
    new job are indexed partially (failure_kind), and no index another one covers is kept
    (see the next test)."""
    job = JobManager(App()).create_job(name="fresh", user=user, job_type="BASIC")
    job.save()
    written = _indexes_written_by(job)
    assert "tc_job_failure_created" not in written, written
    # 0023: no partial index of the active statuses beside tc_job_status_created (10
    # before).
    assert "tc_job_active" not in written, written
    assert len(written) <= 9, written


def _our_tables():
    from django.apps import apps

    for model in apps.get_app_config("tethys_compute").get_models(include_auto_created=False):
        if not model._meta.proxy and model._meta.managed:
            yield model._meta.db_table


def test_no_index_is_covered_by_another():
    """A full index whose columns lead another full index only costs writes: every query
    it serves the longer one serves too (e.g. the status history's job_id index beside
    tc_statuschange_job_time (job_id, time)). A partial index is not covered: it holds
    fewer rows."""
    covered = []
    with connection.cursor() as cursor:
        for table in _our_tables():
            found = connection.introspection.get_constraints(cursor, table)
            conditions = _index_conditions(table)
            indexes = {name: info["columns"] for name, info in found.items()
                       if info["index"] and not info["primary_key"] and not info["unique"]
                       and info["columns"] and None not in info["columns"]}
            for name, columns in indexes.items():
                for other, longer in indexes.items():
                    if (other != name and conditions.get(other) is None
                            and conditions.get(name) is None
                            and len(longer) > len(columns)
                            and longer[:len(columns)] == columns):
                        covered.append(f"{table}: {name} {columns} is covered by {other} {longer}")
    assert not covered, covered


def test_monitor_candidates_read_no_finished_job(jobs):
    """The monitor's claim query reads each branch of its OR through an index: no scan
    of the jobs table (issue 17: a cycle must not grow with the finished jobs)."""
    from django.utils import timezone

    from tethys_compute.monitor import candidates

    text = plan(candidates(timezone.now()).values("pk"))
    table = TethysJob._meta.db_table
    if is_postgres():
        assert "Seq Scan" not in text, text
    else:
        assert f"SCAN {table}" not in text.replace("SCAN TABLE", "SCAN"), text
