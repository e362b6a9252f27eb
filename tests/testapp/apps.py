import os

from django.apps import AppConfig


class TestAppConfig(AppConfig):
    name = "tests.testapp"
    label = "testapp"

    def ready(self):
        # The soak benchmark (benchmarks/soak_lifecycle.py) counts job_finished in every
        # process it starts.
        if os.environ.get("SOAK_FINISHED_LOG"):
            from tethys_compute.signals import job_finished

            job_finished.connect(_log_finished, weak=False)


def _log_finished(sender, job, status, **kwargs):
    from tethys_compute.models import TethysJob

    row = TethysJob.objects.filter(pk=job.pk).values_list("_status", "attempt").first()
    row_status, row_attempt = row or ("-", "-")
    with open(os.environ["SOAK_FINISHED_LOG"], "a") as log:
        log.write(f"{job.pk} {job.attempt} {status} {row_status} {row_attempt} {os.getpid()}\n")
