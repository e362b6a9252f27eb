from django.core.validators import RegexValidator
from django.db import models

from ..fields import EncryptedCharField
from ..scheduler import Scheduler

LOCAL_HOSTS = ("", "localhost", "127.0.0.1", "::1")


class CondorScheduler(Scheduler):
    """An HTCondor submit host (schedd), reached over SSH, or this machine's HTCondor when
    ``host`` is ``"localhost"``/``"127.0.0.1"`` and no ``username`` is set.

    Fields and table as Tethys (``tethys_compute_condorscheduler``). ``port`` is the SSH
    port (default 22). Log in with ``password`` or ``private_key_path`` (RSA, ECDSA or
    ed25519; ``private_key_pass`` if the key has a passphrase). ``password`` and
    ``private_key_pass`` are encrypted at rest (:mod:`tethys_compute.crypto`) and never
    shown by ``str()``/``repr()``. Host keys are checked as
    ``TETHYS_COMPUTE["CONDOR_SSH_KNOWN_HOSTS"]``/``["CONDOR_SSH_HOST_KEY_POLICY"]`` say.
    """

    ENGINE = "htcondor"

    port = models.IntegerField(default=22, blank=True, null=True)
    username = models.CharField(max_length=1024, blank=True, null=True)
    password = EncryptedCharField(max_length=1024, blank=True, null=True)
    private_key_path = models.CharField(max_length=1024, blank=True, null=True)
    private_key_pass = EncryptedCharField(max_length=1024, blank=True, null=True)
    #: HTCondor accounting group of every job submitted here (``accounting_group``; the
    #: portal user is its ``accounting_group_user``, see
    #: :mod:`tethys_compute.engines.condor.accounting`). Blank: none.
    accounting_group = models.CharField(
        max_length=200, blank=True, null=True,
        help_text="HTCondor accounting group of the jobs submitted here (e.g. "
                  "group_hydrology); each portal user is accounted as its own "
                  "accounting_group_user. Blank: none.",
        validators=[RegexValidator(r"^[A-Za-z0-9_.-]+$",
                                   "An accounting group holds only letters, digits, "
                                   "'_', '-' and '.' (HTCondor refuses white space).")])
    #: Most memory (MB) a job may ask of this pool: an automatic retry after a memory
    #: failure never asks more (see :mod:`tethys_compute.escalation`). Blank: no limit.
    max_request_memory = models.PositiveIntegerField(
        blank=True, null=True,
        help_text="Largest request_memory (MB) this pool can give one job; automatic "
                  "retries after a memory failure never ask more. Blank: no limit.")

    class Meta:
        verbose_name = "HTCondor Scheduler"
        verbose_name_plural = "HTCondor Schedulers"

    @property
    def is_local(self) -> bool:
        """True when jobs go to this machine's HTCondor rather than over SSH."""
        return (self.host or "").strip().lower() in LOCAL_HOSTS and not self.username

    def test_connection(self) -> str:
        """Log in (SSH, unless local) and ask the schedd for its queue (``condor_q``).

        :returns: a short message for a person, e.g. ``"Connected to alice@host:22;
            condor_q answered: Total for query: 0 jobs; ..."``.
        :raises tethys_compute.exceptions.EngineUnavailable: naming what failed (host
            unreachable, login refused, unknown or changed host key, ``condor_q`` missing
            or failing). A failure remembered from earlier calls
            (``ENGINE_FAILURE_MEMORY``) is forgotten first: the test always tries again.
        """
        from ...engines.condor import engine_for

        try:
            from ...engines.condor.ssh import forget_failure
        except ImportError:  # pragma: no cover - without paramiko: no SSH to forget
            pass
        else:
            forget_failure(self.host, int(self.port or 22))  # a test always tries again
        return engine_for(self).test_connection()
