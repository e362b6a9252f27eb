"""Loading a callback's job (views/job_lookup.py): the job as its own class, as
``get_subclass`` gives it, with its SELECT compiled once per database, not once per
request (compiling that 7-join SELECT cost several times running it)."""

import threading
from unittest import mock

import pytest
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tethys_compute.models import BasicJob, CondorJob, CondorWorkflow, DaskJob, TethysJob
from tethys_compute.views import job_lookup

pytestmark = pytest.mark.django_db(transaction=True)


class Compilations:
    """Counts the statements Django compiles (``as_sql`` of ``compiler``, by default
    ``SQLCompiler``: SELECTs) in any thread."""

    def __init__(self, compiler=SQLCompiler):
        self.count = 0
        self._compiler = compiler
        self._original = compiler.as_sql

    def __enter__(self):
        original = self._original

        def counted(compiler, *args, **kwargs):
            self.count += 1
            return original(compiler, *args, **kwargs)

        self._patch = mock.patch.object(self._compiler, "as_sql", counted)
        self._patch.start()
        return self

    def __exit__(self, *exc):
        self._patch.stop()


def jobs_of_every_class(user):
    return [model.objects.create(name=model.__name__, user=user, label="test_app",
                                 _status="SUB")
            for model in (BasicJob, CondorJob, CondorWorkflow, DaskJob)]


def fields(job):
    return {f.attname: getattr(job, f.attname) for f in type(job)._meta.concrete_fields}


def test_a_job_loads_as_get_subclass_loads_it(user):
    for job in jobs_of_every_class(user):
        with CaptureQueriesContext(connection) as queries:
            loaded = job_lookup.get_job(job.pk)
        expected = TethysJob.objects.get_subclass(pk=job.pk)
        assert type(loaded) is type(expected) is type(job)
        assert fields(loaded) == fields(expected)
        assert len(queries) == 1
    assert job_lookup.get_job(10**12) is None


def test_a_load_reads_the_row_as_it_is_now(user):
    job = BasicJob.objects.create(name="b", user=user, label="test_app", _status="SUB")
    assert job_lookup.get_job(job.pk)._status == "SUB"
    BasicJob.objects.filter(pk=job.pk).update(_status="RUN", progress=40)
    again = job_lookup.get_job(job.pk)
    assert (again._status, again.progress) == ("RUN", 40)


def test_reports_compile_the_jobs_select_once_not_per_request(user):
    jobs = [BasicJob.objects.create(name=f"b{i}", user=user, label="test_app", _status="RUN")
            for i in range(6)]
    client = Client()

    def report(job):
        # The job's own status again: the answer needs only the job's SELECT.
        response = client.get(f"/report-job-status/{job.pk}/",
                              {"token": job.status_report_token, "status": "Running"})
        assert response.status_code == 200, response.content

    report(jobs[0])  # the first load in this process may compile it
    with Compilations() as compiled:
        for job in jobs[1:]:
            report(job)
    assert compiled.count == 0, f"{compiled.count} compilations for 5 reports"


def test_loads_in_other_threads_use_their_own_connection(user):
    jobs = jobs_of_every_class(user)
    job_lookup.get_job(jobs[0].pk)  # prepared by this thread's connection
    loaded, errors = {}, []

    def load(job):
        try:
            loaded[job.pk] = job_lookup.get_job(job.pk)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            from django.db import connections

            connections.close_all()

    threads = [threading.Thread(target=load, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert {pk: type(job) for pk, job in loaded.items()} == {j.pk: type(j) for j in jobs}
