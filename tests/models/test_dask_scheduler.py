"""DaskScheduler (tethys_compute/models/dask/dask_scheduler.py) against a real cluster."""

import time

import pytest
from django.core.exceptions import ValidationError

from tests.engines.dask.fixtures import *  # noqa: F403
from tethys_compute.models import DaskJobException, DaskScheduler
from tethys_compute.scheduler_manager import create_dask_scheduler

pytestmark = pytest.mark.django_db


def test_test_connection_lists_the_workers(dask_scheduler, dask_cluster):
    message = dask_scheduler.test_connection()
    worker = next(iter(dask_cluster.scheduler.workers))
    assert message == f"Connected to {dask_cluster.scheduler_address}: 1 worker ({worker}), 4 threads."


def test_test_connection_names_an_unreachable_address_within_the_timeout():
    scheduler = DaskScheduler.objects.create(name="down", host="127.0.0.1:9", timeout=1)
    started = time.monotonic()
    with pytest.raises(DaskJobException, match="tcp://127.0.0.1:9"):
        scheduler.test_connection()
    assert time.monotonic() - started < 6


def test_test_connection_with_a_bad_address():
    scheduler = DaskScheduler(name="empty", host="")
    with pytest.raises(DaskJobException, match="'empty'"):
        scheduler.test_connection()


def test_client_is_shared_by_schedulers_of_one_address(dask_scheduler, dask_cluster):
    twin = DaskScheduler.objects.create(name="twin", host=dask_cluster.scheduler_address.replace("tcp://", ""))
    assert twin.client is dask_scheduler.client
    assert twin.address == dask_scheduler.address == dask_cluster.scheduler_address


def test_call_timeout_is_the_scheduler_timeout():
    assert DaskScheduler(timeout=7).call_timeout == 7
    assert DaskScheduler(timeout=0).call_timeout > 0


@pytest.mark.parametrize("fields, bad", [
    ({"host": "", "timeout": 0}, "host"),
    ({"host": "tcp://a b:1", "timeout": 0}, "host"),
    ({"host": "tcp://a:1", "timeout": -1}, "timeout"),
    ({"host": "tcp://a:1", "heartbeat_interval": -5}, "heartbeat_interval"),
])
def test_clean_names_the_bad_field(fields, bad):
    scheduler = DaskScheduler(name="s", **fields)
    with pytest.raises(ValidationError) as caught:
        scheduler.clean()
    assert bad in caught.value.message_dict


def test_created_through_the_scheduler_api_and_saved():
    scheduler = create_dask_scheduler("api", "tcp://127.0.0.1:8786")
    scheduler.full_clean()
    scheduler.save()
    assert DaskScheduler.objects.get(name="api").timeout == 0
