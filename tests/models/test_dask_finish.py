"""Finished Dask jobs of a batch refresh stored together
(tethys_compute/models/dask/dask_finish.py, models/results_batch.py), on a real
LocalCluster: the batch's claim, each job's own outcome in a mixed batch, a failing
batch falling back job by job, and two real processes racing to finish the same jobs.
The statements per batch: tests/models/test_dask_refresh.py."""

import logging
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.models.test_dask_refresh import active_jobs, wait_all_finished
from tests.testapp.shared_db import worker
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.models import DaskJob, JobStatusChange
from tethys_compute.monitor import refresh_jobs

pytestmark = pytest.mark.django_db(transaction=True)


def history(job):
    return list(JobStatusChange.objects.filter(job_id=job.pk).order_by("id")
                .values_list("old_status", "new_status"))


def finished_jobs(make_dask_job, count, prefix, function=work.inc):
    jobs = [make_dask_job(name=f"{prefix}{i}") for i in range(count)]
    for i, job in enumerate(jobs):
        job.execute(function, i)
    wait_all_finished(jobs)
    return jobs


def test_the_batch_update_moves_only_rows_still_running_and_returns_them(make_dask_job):
    jobs = finished_jobs(make_dask_job, 4, "r")
    with CaptureQueriesContext(connection) as captured:
        refresh_jobs(active_jobs())
    claims = [q["sql"] for q in captured.captured_queries
              if q["sql"].startswith('UPDATE "tethys_compute_tethysjob"') and "'done'" in q["sql"]]
    assert len(claims) == 1
    claim = claims[0]
    # The claim's conditions: the status and run loaded, processing claimable, no end.
    for condition in ('"_status" = \'RUN\'', '"attempt" = 1', '"completion_time" IS NULL',
                      '"_results_state" IS NULL', "RETURNING"):
        assert condition in claim, claim
    assert all(DaskJob.objects.get(pk=j.pk).cached_status == "Complete" for j in jobs)


def test_a_mixed_batch_ends_each_job_by_its_own_outcome(make_dask_job, tmp_path, monkeypatch):
    """Plain results (stored together), a result JSON cannot hold, a results function
    that fails, one that works (called once), forget, and a task that erred: one
    refresh, each job as the status rules say, none touched by another's outcome."""
    mark = tmp_path / "processed"
    monkeypatch.setenv("TESTAPP_RESULTS_MARK", str(mark))
    plain = [make_dask_job(name=f"plain{i}") for i in range(3)]
    unstorable = make_dask_job(name="unstorable")
    failing = make_dask_job(name="failing")
    failing.process_results_function = "tests.testapp.results.broken"
    tagged = make_dask_job(name="tagged")
    tagged.process_results_function = "tests.testapp.results.tag_run"
    forgotten = make_dask_job(name="forget", forget=True)
    erred = make_dask_job(name="erred")
    for i, job in enumerate(plain):
        job.execute(work.inc, 10 * i)
    unstorable.execute(work.not_json)
    failing.execute(work.inc, 1)
    tagged.execute(work.inc, 7)
    forgotten.execute(work.inc, 3)
    erred.execute(work.boom, "no luck")
    everyone = [*plain, unstorable, failing, tagged, forgotten, erred]
    wait_all_finished(everyone)
    stats = refresh_jobs(active_jobs())
    assert stats.checked == len(everyone)

    def fresh(job):
        return DaskJob.objects.get(pk=job.pk)

    for i, job in enumerate(plain):
        assert (fresh(job).cached_status, fresh(job).result) == ("Complete", 10 * i + 1)
        assert history(job) == [("PEN", "RUN"), ("RUN", "RES"), ("RES", "COM")]
    assert fresh(unstorable).cached_status == "Error"
    assert "cannot be stored" in fresh(unstorable).status_message
    assert fresh(unstorable).result is None
    assert fresh(failing).cached_status == "Error"
    assert "Result processing failed" in fresh(failing).status_message
    assert fresh(failing).result is None
    assert (fresh(tagged).cached_status, fresh(tagged).result) == ("Complete", {"run": 8})
    assert len(mark.read_text().splitlines()) == 1  # its function ran once
    assert (fresh(forgotten).cached_status, fresh(forgotten).result) == ("Complete", None)
    assert fresh(erred).cached_status == "Error" and "no luck" in fresh(erred).status_message
    # A second refresh finds nothing left to do for the finished ones.
    refresh_jobs(active_jobs())
    assert len(mark.read_text().splitlines()) == 1
    for job in [*plain, tagged, forgotten]:
        assert len(history(job)) == 3


@pytest.fixture
def refused_result():
    """A database trigger that refuses to store the result '666' (a database error in
    the middle of the batch's statements)."""
    statements = {
        "sqlite": (
            ["CREATE TRIGGER tc_test_refuse BEFORE UPDATE OF result ON tethys_compute_daskjob "
             "WHEN NEW.result = '666' BEGIN SELECT RAISE(ABORT, 'result refused'); END"],
            ["DROP TRIGGER IF EXISTS tc_test_refuse"],
        ),
        "postgresql": (
            ["CREATE FUNCTION tc_test_refuse() RETURNS trigger AS $$ BEGIN IF NEW.result = "
             "'666' THEN RAISE EXCEPTION 'result refused'; END IF; RETURN NEW; END $$ "
             "LANGUAGE plpgsql",
             "CREATE TRIGGER tc_test_refuse BEFORE UPDATE ON tethys_compute_daskjob FOR EACH "
             "ROW EXECUTE FUNCTION tc_test_refuse()"],
            ["DROP TRIGGER IF EXISTS tc_test_refuse ON tethys_compute_daskjob",
             "DROP FUNCTION IF EXISTS tc_test_refuse()"],
        ),
    }[connection.vendor]
    with connection.cursor() as cursor:
        for sql in statements[0]:
            cursor.execute(sql)
    yield
    with connection.cursor() as cursor:
        for sql in statements[1]:
            cursor.execute(sql)


def test_a_batch_that_fails_is_stored_job_by_job(make_dask_job, refused_result, caplog):
    """The database refuses one job's result: the batch is rolled back and every job
    goes its own way; the others complete with their own results, the refused job's row
    is left as it was (Running, no result, no history), and it is tried again later."""
    jobs = [make_dask_job(name=f"f{i}") for i in range(4)]
    for value, job in zip((10, 665, 20, 30), jobs, strict=True):
        job.execute(work.inc, value)
    wait_all_finished(jobs)
    with caplog.at_level(logging.ERROR, logger="tethys_compute"):
        stats = refresh_jobs(active_jobs())
    assert "one by one" in caplog.text
    assert stats.changed == 3
    for value, job in zip((11, None, 21, 31), jobs, strict=True):
        fresh = DaskJob.objects.get(pk=job.pk)
        if value is None:
            assert (fresh.cached_status, fresh.result, fresh.completion_time) == (
                "Running", None, None)
            assert history(job) == [("PEN", "RUN")]
            assert fresh._results_state in (None, "")
        else:
            assert (fresh.cached_status, fresh.result) == ("Complete", value)
            assert history(job) == [("PEN", "RUN"), ("RUN", "RES"), ("RES", "COM")]
    with clients.connection(jobs[1].scheduler.host) as client:
        assert tasks.task_states(client, [jobs[1].key], 10)[jobs[1].key] == "memory"  # kept


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(2))
def test_two_processes_finishing_the_same_batch_store_each_result_once(
        make_dask_job, tmp_path, round_):
    """Two monitors (real processes, no leases) loaded the same Running jobs and refresh
    them at once: each job is completed by one of them only, with its own result, one
    history of Running -> Results-Ready -> Complete and one job_finished."""
    jobs = finished_jobs(make_dask_job, 12, f"race{round_}-")
    go = tmp_path / "go"
    ids = [job.pk for job in jobs]
    racers = [worker(jobs[0], "batch", tmp_path, go=go, name=f"racer{n}", jobs=ids)
              for n in range(2)]
    for racer in racers:
        racer.wait_ready()
    go.touch()
    answers = [racer.result() for racer in racers]
    assert [answer["error"] for answer in answers] == [None, None]
    assert sum(answer["result"] for answer in answers) == len(jobs), answers
    for i, job in enumerate(jobs):
        fresh = DaskJob.objects.get(pk=job.pk)
        assert (fresh.cached_status, fresh.result, fresh._results_state) == (
            "Complete", i + 1, "done")
        assert history(job) == [("PEN", "RUN"), ("RUN", "RES"), ("RES", "COM")]
        lines = _finished_log(job).splitlines()
        assert len(lines) == 1 and lines[0].split()[1:] == ["COM", "1", "COM"], lines


def _finished_log(job):
    """The lines the racers' ``job_finished`` receivers wrote (tests/testapp/worker.py)."""
    path = Path(job.workspace) / "finished.log"
    return path.read_text() if path.exists() else ""
