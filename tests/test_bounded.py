"""Counts and searches whose cost does not grow with the number of jobs
(``tethys_compute.bounded``, issue 17: 1,000,000 jobs): what they find, how many
queries they run, and (SQLite) that their plans never read the whole jobs table."""

import re

import pytest
from django.core.checks import run_checks
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import is_postgres
from tethys_compute.bounded import capped_count, count_text, search_jobs
from tethys_compute.models import TethysJob

pytestmark = pytest.mark.django_db

SMALL = {"COUNT_LIMIT": 5, "SEARCH_WINDOW": 4}


def add_jobs(user, names, label="app", description="d"):
    """Base job rows named ``names``, in that order (ids increasing)."""
    return TethysJob.objects.bulk_create(
        [TethysJob(name=name, description=description, user=user, label=label)
         for name in names])


def found(queryset):
    return sorted(queryset.values_list("name", flat=True))


# --- counts ----------------------------------------------------------------------------------
def test_a_count_stops_at_its_limit_in_one_query(user):
    add_jobs(user, [f"job {i}" for i in range(12)])
    jobs = TethysJob.objects.all()
    with CaptureQueriesContext(connection) as captured:
        assert capped_count(jobs, 20) == (12, False)
        assert capped_count(jobs, 12) == (12, False)
        assert capped_count(jobs, 11) == (11, True)
        assert capped_count(jobs.filter(name__endswith="1"), 1) == (1, True)
    assert len(captured) == 4
    # COUNT over a LIMIT subquery: the database stops reading after limit + 1 rows.
    assert re.search(r"COUNT\(\*\).*LIMIT 21\b", captured[0]["sql"], re.S), captured[0]["sql"]


def test_the_count_limit_is_a_setting(user, settings):
    add_jobs(user, [f"job {i}" for i in range(7)])
    settings.TETHYS_COMPUTE = SMALL
    assert capped_count(TethysJob.objects.all()) == (5, True)
    assert count_text(capped_count(TethysJob.objects.all())) == "more than 5"
    settings.TETHYS_COMPUTE = {"COUNT_LIMIT": 10_000}
    counted = capped_count(TethysJob.objects.all())
    assert counted == (7, False) and count_text(counted) == "7"
    assert count_text(type(counted)(10_000, True)) == "more than 10,000"


@pytest.mark.parametrize("key", ["COUNT_LIMIT", "SEARCH_WINDOW"])
@pytest.mark.parametrize("value", [0, -1, 2.5, "100", True, None])
def test_bad_limits_are_reported_by_the_system_check(settings, key, value):
    settings.TETHYS_COMPUTE = {key: value}
    errors = [m for m in run_checks() if m.id == "tethys_compute.E004"]
    assert any(key in m.msg for m in errors), errors


# --- search: what it finds -------------------------------------------------------------------
@pytest.fixture
def searched(user, settings):
    """Nine jobs; the window (SEARCH_WINDOW=4) holds the newest four."""
    settings.TETHYS_COMPUTE = SMALL
    old = add_jobs(user, ["Alpha survey", "beta run", "old gamma", "delta"],
                   description="the old study")
    new = add_jobs(user, ["epsilon", "new gamma", "Zeta", "eta"],
                   description="the new study")
    other = add_jobs(user, ["gamma elsewhere"], label="other", description="x")
    return old, new, other


def test_search_finds_the_exact_id(searched):
    old, new, other = searched
    jobs = TethysJob.objects.all()
    assert found(search_jobs(jobs, str(old[1].pk))) == ["beta run"]
    assert found(search_jobs(jobs, f"#{old[2].pk}")) == ["old gamma"]
    assert found(search_jobs(jobs, "99999999")) == []


def test_search_finds_the_start_of_any_name_in_any_case(searched):
    jobs = TethysJob.objects.all()
    assert found(search_jobs(jobs, "alpha")) == ["Alpha survey"]  # old: outside the window
    assert found(search_jobs(jobs, "OLD G")) == ["old gamma"]
    assert found(search_jobs(jobs, "z")) == ["Zeta"]
    # LIKE's wildcards are plain characters in the text.
    assert found(search_jobs(jobs, "%")) == [] and found(search_jobs(jobs, "_")) == []


def test_search_finds_any_part_inside_the_window_only(searched):
    jobs = TethysJob.objects.all()
    # "gamma": in "new gamma" (window) and "old gamma" (outside: not found); the job
    # of the other app is the newest of all, so it is in the window of all jobs.
    assert found(search_jobs(jobs, "gamma")) == ["gamma elsewhere", "new gamma"]
    # The four newest: "gamma elsewhere" (no "study"), eta, Zeta, new gamma.
    assert found(search_jobs(jobs, "STUDY")) == ["Zeta", "eta", "new gamma"]
    assert found(search_jobs(jobs, "survey")) == []  # "Alpha survey" is too old
    # The window is the newest jobs *of the query*: of app "app", the newest four.
    app = TethysJob.objects.filter(label="app")
    assert found(search_jobs(app, "gamma")) == ["new gamma"]
    assert found(search_jobs(app, "new study")) == ["Zeta", "epsilon", "eta", "new gamma"]
    assert found(search_jobs(app, "study", window=100)) == [
        "Alpha survey", "Zeta", "beta run", "delta", "epsilon", "eta", "new gamma", "old gamma"]


def test_search_by_words_inside_the_window(searched):
    app = TethysJob.objects.filter(label="app")
    assert found(search_jobs(app, "epsilon study")) == []  # the whole text
    assert found(search_jobs(app, "epsilon study", words=True)) == ["epsilon"]  # each word
    assert found(search_jobs(app, '"new study" zeta', words=True)) == ["Zeta"]


def test_search_text_is_cleaned(searched):
    jobs = TethysJob.objects.all()
    assert found(search_jobs(jobs, "  delta\x00 ")) == ["delta"]
    assert search_jobs(jobs, "  ") is jobs


def test_many_names_starting_so_are_checked_row_by_row(user, settings):
    """More than COUNT_LIMIT names start with the text: the same jobs are found."""
    settings.TETHYS_COMPUTE = SMALL
    add_jobs(user, [f"run {i}" for i in range(8)] + ["other run"])
    jobs = TethysJob.objects.all()
    assert found(search_jobs(jobs, "run")) == sorted(
        [f"run {i}" for i in range(8)] + ["other run"])
    assert found(search_jobs(jobs, "RUN 1")) == ["run 1"]


def test_search_runs_the_same_queries_whatever_the_number_of_jobs(user, settings):
    settings.TETHYS_COMPUTE = {"COUNT_LIMIT": 50, "SEARCH_WINDOW": 20}
    counts = []
    for total in (10, 500):
        add_jobs(user, [f"bulk {i}" for i in range(total - TethysJob.objects.count())])
        for text in ("bulk 1", "bulk", "12", "nothing"):
            with CaptureQueriesContext(connection) as captured:
                list(search_jobs(TethysJob.objects.order_by("-id"), text)[:10])
            counts.append(len(captured))
    # SQLite: the check of the name index, then the search; PostgreSQL: the matching
    # ids (at most COUNT_LIMIT + SEARCH_WINDOW + 2), then the search.
    assert set(counts) == {2}, counts


# --- search: the plans -------------------------------------------------------------------------
def unbounded_steps(sql, params=None):
    """The steps of SQLite's plan of ``sql`` that read the jobs table other than by id
    or through the name index (a ``SCAN``, or a ``SEARCH`` of a whole app or status),
    except in the search window (``SELECT id ... ORDER BY id DESC LIMIT n``: a bounded
    walk of the newest jobs)."""
    windows = set(re.findall(
        r'FROM "tethys_compute_tethysjob" (\w+)(?:(?!FROM).)*?ORDER BY (?:\1\."id"|1) DESC LIMIT',
        sql))
    steps = plan(sql, params or ())
    bad = []
    for step in steps:
        found = re.match(r"(SCAN|SEARCH) (\w+)\b", step)
        if not found or found.group(2) in windows:
            continue
        reads_jobs = found.group(2) == "tethys_compute_tethysjob" or re.search(
            rf'"tethys_compute_tethysjob" {found.group(2)}\b', sql)
        if reads_jobs and not re.search(r"rowid=\?|\bid=\?|tc_job_name_prefix", step):
            bad.append(step)
    return bad, steps


def plan(sql, params):
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return [row[-1] for row in cursor.fetchall()]
        cursor.execute("EXPLAIN " + sql, params)
        return [row[0] for row in cursor.fetchall()]


def test_the_name_index_serves_djangos_prefix_lookup(user):
    """``name__istartswith`` as Django writes it on this database is served by
    tc_job_name_prefix (SQLite: ``name COLLATE NOCASE``; PostgreSQL:
    ``UPPER(name::text) text_pattern_ops``)."""
    add_jobs(user, [f"job {i}" for i in range(50)])
    # The description too: no index holds it, so no index can answer the query alone
    # (tc_job_label_name holds label, name and id: an Index Only Scan of all of it,
    # checking each name, was PostgreSQL's pick with statistics of an earlier test).
    sql, params = TethysJob.objects.filter(name__istartswith="Job 4") \
        .values("pk", "description").query.sql_with_params()
    with connection.cursor() as cursor:
        if is_postgres():
            cursor.execute(f"ANALYZE {TethysJob._meta.db_table}")
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: force indexes
    steps = plan(sql, params)
    assert any("tc_job_name_prefix" in step for step in steps), steps


def test_a_search_never_scans_the_jobs_table(user, settings):
    if is_postgres():
        pytest.skip("SQLite's plan; PostgreSQL plans by its statistics")
    settings.TETHYS_COMPUTE = {"COUNT_LIMIT": 100, "SEARCH_WINDOW": 50}
    add_jobs(user, [f"job {i}" for i in range(300)], label="app")
    add_jobs(user, [f"job {i}" for i in range(300)], label="other")
    queries = [
        TethysJob.objects.all(),
        TethysJob.objects.filter(label="app"),
        TethysJob.objects.filter(label="app", user=user),
        TethysJob.objects.active(),
    ]
    for queryset in queries:
        for text in ("job 42", "17", "nothing like it"):
            searched = search_jobs(queryset, text)
            for query in (searched.order_by("-id")[:25], searched.order_by().values("pk")[:101]):
                sql, params = query.query.sql_with_params()
                bad, steps = unbounded_steps(sql, params)
                assert not bad, (text, steps)
                assert any("tc_job_name_prefix" in s for s in steps), steps


def test_postgresql_pages_the_matches_by_their_ids(user, settings):
    """PostgreSQL: the page's query holds the matching ids as one array, not the search
    terms. With the terms in the page's own query, its planner walked the page's order
    (``tc_job_created``) checking every row: at 1,000,000 jobs the jobs table's search
    read every job of the app (0.8 s) and the admin's every job (0.5 s; 20 s as a
    flattened ``IN (subquery)``), as the window's matches sit at the newest end."""
    if not is_postgres():
        pytest.skip("PostgreSQL's query shape (SQLite: test_a_search_never_scans_...)")
    settings.TETHYS_COMPUTE = {"COUNT_LIMIT": 20, "SEARCH_WINDOW": 10}
    add_jobs(user, [f"job {i}" for i in range(60)], description="a study")
    for text in ("job 4", "study", "job 4 study"):
        for words in (False, True):
            page = search_jobs(TethysJob.objects.order_by("creation_time"), text, words=words)
            sql = str(page.query)
            assert "= ANY(" in sql and " LIKE " not in sql, sql
            with CaptureQueriesContext(connection) as captured:
                names = found(page)
            assert len(captured) == 1
            expected = found(TethysJob.objects.filter(pk__in=[
                j.pk for j in TethysJob.objects.all()
                if j.name.upper().startswith(text.upper())
                or (j.pk >= sorted(TethysJob.objects.values_list("pk", flat=True))[-10]
                    and all(w in f"{j.name} {j.description}".lower()
                            for w in (text.split() if words else [text])))]))
            assert names == expected, (text, words)
