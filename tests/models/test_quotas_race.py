"""The per-user limit holds against real processes racing (issue 15, item 5): processes
executing one user's jobs at once, and two monitors starting waiting jobs at once, never
take more slots than the limit (SQLite and PostgreSQL)."""

import pytest

from tests.testapp.shared_db import worker
from tethys_compute.models import BasicJob, TethysJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LIMIT = {"MAX_ACTIVE_JOBS_PER_USER": 2}


def _race(jobs, action, tmp_path, name):
    go = tmp_path / f"go-{name}"
    workers = [worker(job, action, tmp_path, go=go, name=f"{name}{n}", tethys_compute=LIMIT)
               for n, job in enumerate(jobs)]
    for each in workers:
        each.wait_ready()
    go.touch()
    return [each.result() for each in workers]


@pytest.mark.parametrize("round_", range(2))
def test_processes_executing_at_once_never_exceed_the_limit(user, other_user, tmp_path,
                                                            settings, round_):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, **LIMIT}
    jobs = [BasicJob.objects.create(name=f"j{n}", user=user, label="test_app")
            for n in range(6)]
    bobs = BasicJob.objects.create(name="bob's", user=other_user, label="test_app")
    answers = _race([*jobs, bobs], "execute", tmp_path, "exec")
    assert all(a["error"] is None for a in answers), answers
    rows = TethysJob.objects.filter(pk__in=[j.pk for j in jobs])
    assert rows.filter(_status="SUB").count() == 2
    waiting = rows.filter(_status="PEN", quota_waiting_since__isnull=False, execute_time=None)
    assert waiting.count() == 4
    assert TethysJob.objects.get(pk=bobs.pk)._status == "SUB"

    # Two monitors at once, both slots freed: exactly two more start, the first in line.
    for row in rows.filter(_status="SUB"):
        assert TethysJob.objects.get_subclass(pk=row.pk).update_status("Complete")
    line = list(waiting.order_by("quota_waiting_since", "pk").values_list("pk", flat=True))
    answers = _race(jobs[:2], "cycle", tmp_path, "cycle")
    assert all(a["error"] is None for a in answers), answers
    assert sum(a["result"]["started_from_wait"] for a in answers) == 2
    started = set(rows.filter(_status="SUB").values_list("pk", flat=True))
    assert started == set(line[:2])
    assert rows.filter(_status="PEN").count() == 2
