"""The jobs table shows a job waiting for a free slot (per-user limits, issue 15 item 5):
the wait and its place in its user's line, kept current by the live updates."""

import json

import pytest
from django.urls import reverse

from tethys_compute import monitor
from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db


def poll(client, token, rows):
    return client.post(reverse("jobs_table_poll"), data=json.dumps({"config": token, "rows": rows}),
                       content_type="application/json").json()


def test_waiting_rows_show_the_wait_and_their_place_live(alice_client, make_job, table_token,
                                                         settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "MAX_ACTIVE_JOBS_PER_USER": 1}
    jobs = [make_job(f"job {i}") for i in range(3)]
    for job in jobs:
        job.execute()
    token = table_token(jobs)
    first = poll(alice_client, token, {str(j.pk): "" for j in jobs})["rows"]
    assert "tc-wait" not in first[str(jobs[0].pk)]["html"]
    assert "Waiting for a free slot (1 of 1 running), 1st in line" in first[str(jobs[1].pk)]["html"]
    assert "Waiting for a free slot (1 of 1 running), 2nd in line" in first[str(jobs[2].pk)]["html"]
    fps = {key: row["fp"] for key, row in first.items()}
    assert poll(alice_client, token, fps)["rows"] == {}

    BasicJob.objects.get(pk=jobs[0].pk).update_status("COM")
    monitor.run_cycle()  # starts job 1: job 2 moves up
    assert TethysJob.objects.get(pk=jobs[1].pk)._status == "SUB"
    rows = poll(alice_client, token, fps)["rows"]
    assert set(rows) == {str(j.pk) for j in jobs}
    assert "tc-wait" not in rows[str(jobs[1].pk)]["html"]
    assert "1st in line" in rows[str(jobs[2].pk)]["html"]
