"""The poll of a table's rows looks its jobs up by primary key (issue 17, at 1M jobs).

With ``user_id = ? OR id IN (<group subquery>)`` beside ``label IN (...)`` in one WHERE
clause, SQLite walked every index entry of the app's label to find the 25 rows asked for
(94 ms at 1,000,000 jobs for a user in a group). The poll's job query must search the jobs
table by its primary key (the rowid, or ``tc_job_label_id`` searched by label *and* id),
and the group subquery must read the memberships of those jobs only, not every job the
user's groups share.
"""

import json
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.conftest import is_postgres

pytestmark = pytest.mark.django_db


@pytest.fixture
def grouped(user, other_user, make_job):
    lab = Group.objects.create(name="lab")
    user.groups.add(lab)
    own = [make_job(f"own{i}", status="RUN") for i in range(3)]
    shared = [make_job(f"shared{i}", status="RUN", owner=other_user) for i in range(3)]
    for job in shared:
        job.groups.add(lab)
    hidden = make_job("hidden", status="RUN", owner=other_user)
    return own, shared, hidden


def poll(client, token, jobs):
    return client.post(reverse("jobs_table_poll"), content_type="application/json",
                       data=json.dumps({"config": token, "rows": {str(j.pk): "x" for j in jobs}}))


def job_queries(captured, jobs):
    """The captured SELECTs that read the jobs table for the polled ids."""
    wanted = []
    for query in captured:
        sql = query["sql"]
        if re.search(r'FROM "tethys_compute_tethysjob"', sql) and sql.startswith("SELECT") \
                and all(str(job.pk) in sql for job in jobs):
            wanted.append(sql)
    return wanted


def test_poll_of_a_group_member_searches_jobs_by_primary_key(alice_client, table_token, grouped):
    own, shared, hidden = grouped
    jobs = own + shared + [hidden]
    token = table_token(own + shared)
    with CaptureQueriesContext(connection) as captured:
        answer = poll(alice_client, token, jobs)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body["rows"]) == {str(j.pk) for j in own + shared}
    assert body["gone"] == [hidden.pk]
    if is_postgres():
        return  # PostgreSQL's planner chooses by its statistics; the access is checked above.
    reads = job_queries(captured.captured_queries, jobs)
    assert reads, [q["sql"] for q in captured.captured_queries]
    with connection.cursor() as cursor:
        for sql in reads:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            steps = [row[-1] for row in cursor.fetchall()]
            job_steps = [s for s in steps if re.search(r"\btethys_compute_tethysjob\b", s)]
            # The group subquery reads the memberships of the polled jobs only.
            group_steps = [s for s in steps if re.search(r"SEARCH U0\b", s)]
            assert group_steps and all("tethysjob_id=?" in s for s in group_steps), steps
            # By rowid, or by an index whose search names the id ("label=? AND id=?").
            assert job_steps and all(re.search(r"PRIMARY KEY|\bid=\?", s)
                                     for s in job_steps), steps
