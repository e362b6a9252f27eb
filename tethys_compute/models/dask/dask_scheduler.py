from django.core.exceptions import ValidationError
from django.db import models

from ..scheduler import Scheduler
from .dask_job_exception import DaskJobException


class DaskScheduler(Scheduler):
    """A ``distributed`` scheduler; ``host`` is its address (``tcp://127.0.0.1:8786``;
    ``host:port`` means tcp).

    ``timeout`` is the seconds to wait when connecting (handshake included) and for each
    scheduler call, 0 meaning ``TETHYS_COMPUTE["DASK_TIMEOUT"]`` (Tethys: distributed's
    30 s); ``heartbeat_interval`` the seconds between client heartbeats, 0 meaning
    distributed's default as in Tethys. ``dashboard`` is the dashboard's base URL, if any.
    """

    ENGINE = "dask"

    timeout = models.IntegerField(blank=True, default=0)
    heartbeat_interval = models.IntegerField(blank=True, default=0)
    dashboard = models.CharField(max_length=255, blank=True, null=True)

    class Meta:
        verbose_name = "Dask Scheduler"
        verbose_name_plural = "Dask Schedulers"

    def clean(self):
        super().clean()
        errors = {}
        for name in ("timeout", "heartbeat_interval"):
            value = getattr(self, name)
            if value is not None and value < 0:
                errors[name] = "Use a number of seconds, or 0 for distributed's default."
        if not (self.host or "").strip():
            errors["host"] = "Give the scheduler's address, e.g. tcp://127.0.0.1:8786."
        elif any(ch.isspace() for ch in self.host.strip()):
            errors["host"] = "A scheduler address contains no spaces (e.g. tcp://10.0.0.5:8786)."
        if errors:
            raise ValidationError(errors)

    @property
    def address(self) -> str:
        """The scheduler address with its scheme (``tcp://`` added to ``host:port``)."""
        from ...engines.dask.clients import normalize_address

        return normalize_address(self.host)

    @property
    def call_timeout(self) -> float:
        """Seconds to wait for the scheduler (``timeout``, or
        ``TETHYS_COMPUTE["DASK_TIMEOUT"]`` when 0)."""
        from ...engines.dask.clients import connect_timeout

        return connect_timeout(self.timeout)

    def connection(self):
        """Context manager giving this process's ``distributed.Client`` for the
        scheduler, held for the ``with`` block (it is shared; never close it).

        :raises DaskSchedulerUnavailable: the scheduler cannot be reached within
            ``timeout`` seconds (a :class:`DaskJobException` naming the address).
        """
        from ...engines.dask.clients import connection

        return connection(self.host, self.timeout, self.heartbeat_interval)

    @property
    def client(self):
        """This process's ``distributed.Client`` for the scheduler, created on first use
        and shared by every job of the process (Tethys's property). Do not close it.

        :raises DaskJobException: the scheduler cannot be reached (the message names the
            address).
        """
        from ...engines.dask.clients import get_client

        return get_client(self.host, self.timeout, self.heartbeat_interval)

    def test_connection(self) -> str:
        """Connect and return a short message naming the scheduler's workers, e.g.
        ``"Connected to tcp://10.0.0.5:8786: 2 workers (tcp://10.0.0.6:40001, ...),
        8 threads."``. The admin calls it.

        :raises DaskJobException: the scheduler cannot be reached or does not answer
            within ``timeout`` seconds (``TETHYS_COMPUTE["DASK_TIMEOUT"]`` when 0), the
            handshake included; the message names the address. A failure remembered
            from earlier calls (``ENGINE_FAILURE_MEMORY``) is forgotten first: the test
            always tries again.
        """
        from ...engines.dask import tasks
        from ...engines.dask.clients import forget_failure

        try:
            address = self.address
        except DaskJobException as exc:
            raise DaskJobException(f"Scheduler {self.name!r}: {exc}") from None
        forget_failure(address)  # a test always tries again
        with self.connection() as client:
            info = tasks.scheduler_info(client, self.call_timeout)
        workers = info.get("workers") or {}
        if not workers:
            return f"Connected to {address}: no workers yet."
        threads = sum(int(w.get("nthreads") or 0) for w in workers.values())
        names = ", ".join(sorted(workers)[:5]) + (", ..." if len(workers) > 5 else "")
        plural = "s" if len(workers) != 1 else ""
        return (
            f"Connected to {address}: {len(workers)} worker{plural} ({names}), "
            f"{threads} thread{'s' if threads != 1 else ''}."
        )
