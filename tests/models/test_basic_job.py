import pytest

from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(user):
    job = BasicJob(name="local run", user=user, label="test_app")
    job.save()
    job.execute()
    return job


def test_execute_submits(job):
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "SUB" and row.execute_time is not None


def test_stop_aborts_with_completion_time(job):
    job.stop()
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "ABT" and row.completion_time is not None


def test_pause_resume(job):
    job.status = "Running"
    job.pause()
    assert TethysJob.objects.get(pk=job.pk).cached_status == "Paused"
    job.resume()
    assert TethysJob.objects.get(pk=job.pk).cached_status == "Running"


def test_resubmit_resets_status_and_completion_time(job):
    job.status = "Error"
    assert job.completion_time is not None
    job.resubmit()
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "RUN" and row.completion_time is None


def test_logs_are_an_empty_valid_structure(job):
    assert job.get_logs() == {}


@pytest.mark.parametrize("bad", [["a"], "text", {"when": object()}, {"s": {1, 2}}])
def test_bad_extended_properties_give_a_clear_error_and_write_nothing(user, bad):
    job = BasicJob(name="x", user=user, label="test_app", extended_properties=bad)
    with pytest.raises(ValueError, match="extended_properties"):
        job.save()
    assert not TethysJob.objects.exists()


def test_bad_extended_properties_on_update_write_nothing(job):
    job.description = "changed"
    job.extended_properties = {"x": object()}
    with pytest.raises(ValueError, match="JSON"):
        job.save()
    row = TethysJob.objects.get(pk=job.pk)
    assert row.description == "" and row.extended_properties == {}
