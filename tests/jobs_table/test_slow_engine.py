"""A jobs-table poll answers from the database within ``JOBS_TABLE_REFRESH_BUDGET`` when
the engine is slow (a stand-in ``condor_q`` that sleeps), and a refresh still running is
not started again by the next polls."""

import time
from pathlib import Path

import pytest

from tests.htcondor_standin.scenarios import condor_job, fast
from tests.jobs_table.test_views import poll
from tethys_compute.models import EngineLease, TethysJob

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET = 1.0
SLOW = 6.0  # seconds condor_q takes
SLACK = 2.0  # a loaded machine: database work, rendering


@pytest.fixture(autouse=True)
def _settings(settings, standin):
    fast(settings, JOBS_TABLE_REFRESH_BUDGET=BUDGET)


def _wait(predicate, timeout=60, message="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        time.sleep(0.05)


def _running_job(user, standin):
    job = condor_job(user, "slow schedd", script="#!/bin/sh\nwhile [ ! -e gate ]; do sleep 0.05; done\n")
    job.execute()
    _wait(lambda: TethysJob.objects.get_subclass(pk=job.pk).status == "Running",
          message="the job to run")
    return job


def _timed_poll(client, token, rows):
    started = time.monotonic()
    response = poll(client, token, rows)
    return response, time.monotonic() - started


def test_poll_answers_within_the_budget_and_starts_one_refresh(alice_client, user, standin,
                                                                table_token):
    job = _running_job(user, standin)
    token = table_token([job])
    Path(job.initial_dir, "gate").touch()  # the job finishes; condor_q is slow to say
    standin.slow("condor_q", SLOW)
    standin.reset_calls()
    rows = {str(job.pk): ""}

    answers = []
    for _ in range(4):
        response, seconds = _timed_poll(alice_client, token, rows)
        assert response.status_code == 200
        assert seconds < BUDGET + SLACK, seconds
        answers.append(response.json())
    assert standin.calls().count("condor_q") == 1  # one refresh, not one per poll
    assert EngineLease.objects.exclude(owner=None).count() == 1

    standin.slow("condor_q", None)
    _wait(lambda: not EngineLease.objects.exclude(owner=None).exists(), timeout=SLOW + 30,
          message="the background refresh to end")
    _wait(lambda: _status(alice_client, token, rows, job) == "Complete", timeout=30,
          message="a poll to show the end")


def _status(client, token, rows, job):
    answer = poll(client, token, rows).json()
    return (answer["rows"].get(str(job.pk)) or {}).get("status")
