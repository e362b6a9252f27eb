"""What a completion report costs (views/update_status.py, views/callback_workers.py):
one durable commit before the answer (the status and the claim of its result
processing), the processing handed to a long-lived worker thread that keeps its database
connection between reports, and still exactly once."""

import threading
from unittest import mock

import pytest
from django.db import connections
from django.db.backends.signals import connection_created
from django.test import Client

from tests.testapp.fixtures import make_jobs, row
from tethys_compute import signals
from tethys_compute.models import BasicJob, CondorJob, CondorWorkflow, DaskJob, JobStatusChange
from tethys_compute.views.update_status import refresh_threads

pytestmark = pytest.mark.django_db(transaction=True)

WRITES = ("INSERT", "UPDATE", "DELETE")


class Commits:
    """Counts durable commits on every connection: a write run outside a transaction
    (autocommit), or the commit of a transaction that wrote."""

    def __init__(self):
        self.count = 0
        self.threads = []  # the thread of each commit, in order
        self._lock = threading.Lock()
        self._attached = []

    def attach(self, conn, **kwargs):
        if any(c is conn for c, _ in self._attached):
            return
        state = {"wrote": False}

        def wrapper(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if sql.lstrip().split(None, 1)[0].upper() in WRITES:
                if conn.in_atomic_block:
                    state["wrote"] = True
                else:
                    self._add()
            return result

        original = conn.commit

        def commit():
            if state["wrote"]:
                self._add()
                state["wrote"] = False
            return original()

        conn.execute_wrappers.append(wrapper)
        conn.commit = commit
        self._attached.append((conn, wrapper))

    def _add(self):
        with self._lock:
            self.count += 1
            self.threads.append(threading.current_thread())

    def __enter__(self):
        connection_created.connect(self._created, weak=False)
        for conn in connections.all():
            self.attach(conn)
        return self

    def _created(self, sender, connection, **kwargs):
        self.attach(connection)

    def __exit__(self, *exc):
        connection_created.disconnect(self._created)
        for conn, wrapper in self._attached:
            if wrapper in conn.execute_wrappers:
                conn.execute_wrappers.remove(wrapper)
            conn.__dict__.pop("commit", None)


def report(job, status):
    return Client().get(f"/report-job-status/{job.pk}/",
                        {"token": job.status_report_token, "status": status})


def basic(user, processing="tests.testapp.results.summarize"):
    """A running BasicJob; ``processing``: its ``process_results_function`` (None: a job
    with nothing to process)."""
    return BasicJob.objects.create(name="b", user=user, label="test_app", _status="RUN",
                                   _process_results_function=processing)


def test_completion_report_commits_once_before_answering(user):
    # Worker threads left by earlier tests hold connections made before the counting
    # started: end them, so this report's processing runs on a counted connection.
    assert refresh_threads.wait(30)
    job = basic(user)
    with Commits() as commits:
        response = report(job, "Complete")
        # The test client runs the view in this thread; the worker may already be
        # committing the processing in its own (a loaded machine), so count by thread.
        answered = commits.threads.count(threading.current_thread())
        assert refresh_threads.wait(30)
    assert response.status_code == 200, response.content
    assert answered == 1, "the status and the claim of its processing: one commit"
    assert commits.count == 2, "then the processing's outcome: one more"
    stored = row(job)
    assert stored._status == "COM" and stored.completion_time is not None
    assert stored._results_state == "done" and stored._results_claim is None
    assert stored.extended_properties.get("summary") == "ok"
    assert list(JobStatusChange.objects.filter(job_id=job.pk).values_list(
        "new_status", flat=True)) == ["COM"]


def test_completion_of_a_job_with_nothing_to_process_is_one_commit_in_all(user):
    assert refresh_threads.wait(30)
    job = basic(user, processing=None)
    finished = []

    def on_finished(sender, job, status, **kwargs):
        finished.append((job.pk, status, threading.current_thread()))

    signals.job_finished.connect(on_finished, weak=False)
    try:
        with Commits() as commits, mock.patch.object(
                refresh_threads, "submit", wraps=refresh_threads.submit) as submit:
            response = report(job, "Complete")
            again = report(job, "Complete")  # a repeat: accepted, changes nothing
            assert refresh_threads.wait(30)
    finally:
        signals.job_finished.disconnect(on_finished)
    assert response.status_code == again.status_code == 200, response.content
    assert response.json()["post_processing"] is True
    assert commits.count == 1, "status, completion and processing outcome: one commit"
    assert submit.call_count == 0, "nothing handed to a worker thread"
    assert finished == [(job.pk, "COM", threading.current_thread())], "finished once"
    stored = row(job)
    assert stored._status == "COM" and stored.completion_time is not None
    assert stored._results_state == "done" and stored._results_claim is None
    assert list(JobStatusChange.objects.filter(job_id=job.pk).values_list(
        "new_status", flat=True)) == ["COM"]


def test_only_jobs_without_processing_code_finish_in_the_report():
    assert not BasicJob()._has_results_work()
    assert BasicJob(_process_results_function="tests.testapp.results.summarize"
                    )._has_results_work()
    for model in (CondorJob, CondorWorkflow, DaskJob):  # their engines' results
        assert model()._has_results_work()


def test_reports_reuse_one_worker_thread_and_connection(user):
    jobs = [basic(user) for _ in range(5)]
    opened = []

    def created(sender, connection, **kwargs):
        opened.append(threading.current_thread().name)

    connection_created.connect(created, weak=False)
    try:
        for job in jobs:
            assert report(job, "Complete").status_code == 200
            # Reports arrive one after another: each processing has ended before the next.
            for _ in range(300):
                if row(job).completion_time is not None:
                    break
                threading.Event().wait(0.05)
        assert refresh_threads.wait(30)
    finally:
        connection_created.disconnect(created)
    assert all(row(job)._status == "COM" and row(job).completion_time for job in jobs)
    workers = [name for name in opened if name != threading.main_thread().name]
    assert len(workers) <= 1, f"one connection for the worker thread, not one per report: {opened}"


def test_result_processing_of_a_report_runs_once(user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, status="RUN")
    answers = [report(job, "COM") for _ in range(3)]
    assert refresh_threads.wait(30)
    assert [a.status_code for a in answers] == [200, 200, 200]
    stored = row(job)
    assert stored._status == "COM" and stored.results == f"results of {job.key}"
    assert fake_engine.result_fetches().count(job.key) == 1
