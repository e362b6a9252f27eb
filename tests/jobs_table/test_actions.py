"""Built-in actions: which statuses and job types each applies to."""

import pytest

from tethys_compute.jobs_table.actions import BUILTIN_ACTIONS, DEFAULT_ACTIONS, supports
from tethys_compute.models import BasicJob, DaskJob, TethysJob

pytestmark = pytest.mark.django_db

LINKS = {"monitor": "/m/{job_id}/", "results": "/r/{job_id}/"}

# status -> actions offered for a BasicJob (Tethys's rules, reference 6.2)
EXPECTED = {
    "PEN": {"run", "delete"},
    "SUB": {"terminate"},
    "RUN": {"pause", "logs", "monitor", "terminate"},
    "VAR": {"pause", "logs", "monitor", "terminate"},
    "PAS": {"resume", "logs", "terminate"},
    "COM": {"resubmit", "logs", "results", "delete"},
    "ERR": {"resubmit", "logs", "results", "delete"},
    "ABT": {"resubmit", "logs", "results", "delete"},
    "VCP": {"resubmit", "logs", "results", "delete"},
    "RES": {"resubmit", "logs", "results", "delete"},
}


def offered(job, links=LINKS):
    return {key for key, action in BUILTIN_ACTIONS.items() if action.is_enabled(job, links)}


def test_default_list_and_labels_are_tethys():
    assert DEFAULT_ACTIONS == ["run", "resubmit", "|", "logs", "monitor", "results", "|",
                               "terminate", "delete"]
    assert {k: a.label for k, a in BUILTIN_ACTIONS.items()} == {
        "run": "Run", "pause": "Pause", "resume": "Resume", "resubmit": "Resubmit",
        "logs": "View Logs", "monitor": "Monitor Job", "results": "View Results",
        "terminate": "Terminate", "delete": "Delete"}


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_actions_offered_by_status(user, code):
    job = BasicJob(name="j", user=user, label="test_app", _status=code)
    assert offered(job) == EXPECTED[code]


def test_links_only_when_given(user):
    job = BasicJob(name="j", user=user, label="test_app", _status="RUN")
    assert "monitor" not in offered(job, {"monitor": "", "results": ""})


def test_job_types_without_controls(user):
    base = TethysJob(name="j", user=user, label="test_app", _status="RUN")
    assert not supports(base, "stop") and not supports(base, "pause")
    assert "terminate" not in offered(base) and "pause" not in offered(base)
    dask = DaskJob(name="d", user=user, label="test_app", _status="RUN")
    assert not supports(dask, "pause") and not supports(dask, "resume")
    assert "pause" not in offered(dask)
    assert supports(BasicJob(name="b", user=user), "stop")


def test_custom_statuses_of_the_jobs_own_class(user, monkeypatch):
    monkeypatch.setattr(BasicJob, "_custom_statuses", {
        "RUNNING_STATUSES": ["Meshing"], "ACTIVE_STATUSES": ["Meshing"],
        "NON_TERMINAL_STATUSES": ["Meshing"]}, raising=False)
    job = BasicJob(name="j", user=user, label="test_app", _status="OTH",
                   extended_properties={"__other_status__": "Meshing"})
    assert job.cached_status == "Meshing"
    assert offered(job) == {"pause", "logs", "monitor", "terminate"}
    other = DaskJob(name="d", user=user, label="test_app", _status="OTH",
                    extended_properties={"__other_status__": "Meshing"})
    assert "delete" in offered(other)  # "Meshing" is not an active status of DaskJob
