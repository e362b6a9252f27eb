import pytest
from django.contrib.auth.models import Permission

from tests.testapp.app import TestApp
from tethys_compute.job_manager import JobManager
from tethys_compute.models import CondorScheduler, DaskScheduler

PASSWORD = "hunter2-Sup3r-S3cret!"
PASSPHRASE = "correct horse battery staple 42"


# Users without a usable password: the tests log in with force_login, and skipping the
# password hashing keeps each test fast.
@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.org", None)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice")


@pytest.fixture
def staff_user(django_user_model):
    """A staff member with no admin permission at all."""
    return django_user_model.objects.create_user(username="staffer", is_staff=True)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def grant(user, *codenames):
    """Give ``user`` tethys_compute permissions by codename (``view_tethysjob``...)."""
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="tethys_compute",
                                   codename__in=codenames)
    )
    return type(user).objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def condor_scheduler(db):
    return CondorScheduler.objects.create(
        name="pool", host="submit.example.org", port=2222, username="condor",
        password=PASSWORD, private_key_path="/keys/id_rsa", private_key_pass=PASSPHRASE,
    )


@pytest.fixture
def dask_scheduler(db):
    return DaskScheduler.objects.create(
        name="cluster", host="tcp://127.0.0.1:8786", timeout=10, heartbeat_interval=5,
        dashboard="http://127.0.0.1:8787/",
    )


@pytest.fixture
def job_manager(db):
    return JobManager(TestApp())


@pytest.fixture
def make_job(job_manager, user):
    def make(name="job", job_type="BASIC", owner=None, **kwargs):
        job = job_manager.create_job(name, owner or user, job_type=job_type, **kwargs)
        job.save()
        return job

    return make
