from io import StringIO

import pytest
from django.core.management import call_command

# The admin tests' users, schedulers and job factory serve the command tests too.
from tests.admin.conftest import (  # noqa: F401
    PASSPHRASE,
    PASSWORD,
    condor_scheduler,
    dask_scheduler,
    job_manager,
    make_job,
    user,
)


class Result:
    def __init__(self, out, err):
        self.out, self.err = out, err


@pytest.fixture
def run():
    """Run a management command; returns its stdout and stderr (a CommandError raises)."""

    def run(*args, stdin=None):
        out, err = StringIO(), StringIO()
        extra = {"stdin": StringIO(stdin)} if stdin is not None else {}
        call_command(*args, stdout=out, stderr=err, **extra)
        return Result(out.getvalue(), err.getvalue())

    return run
