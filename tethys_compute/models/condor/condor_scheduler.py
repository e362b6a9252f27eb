from django.db import models

from ..fields import EncryptedCharField
from ..scheduler import Scheduler


class CondorScheduler(Scheduler):
    """An HTCondor submit host, reached over SSH (or the local tools when ``host`` is
    ``"localhost"`` with no username).

    Fields and table as Tethys (``tethys_compute_condorscheduler``). ``port`` is the SSH
    port (default 22). ``password`` and ``private_key_pass`` are encrypted at rest
    (:mod:`tethys_compute.crypto`).
    """

    ENGINE = "htcondor"

    port = models.IntegerField(default=22, blank=True, null=True)
    username = models.CharField(max_length=1024, blank=True, null=True)
    password = EncryptedCharField(max_length=1024, blank=True, null=True)
    private_key_path = models.CharField(max_length=1024, blank=True, null=True)
    private_key_pass = EncryptedCharField(max_length=1024, blank=True, null=True)

    class Meta:
        verbose_name = "HTCondor Scheduler"
        verbose_name_plural = "HTCondor Schedulers"
