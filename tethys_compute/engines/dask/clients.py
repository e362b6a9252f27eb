"""One ``distributed.Client`` per scheduler address per process.

Tethys opens a client per scheduler instance, closes it after every status poll (while
result processing still needs it) and, without a scheduler, starts a new ``LocalCluster``
on every access (see "Differences from Tethys" in the docs). Here:

* a client is created lazily on first use of an address, then reused by every job and
  thread of the process;
* it is never closed while an operation holds it: :func:`connection` counts its users,
  and :func:`close_client` / :func:`close_all` retire a client so that the last user
  closes it;
* a client that distributed has closed (the scheduler went away for longer than the
  client's reconnect window) is replaced on next use;
* connecting is bounded as a whole, the handshake included (distributed bounds the TCP
  connect by the timeout but then waits for the scheduler's first words forever: a
  listener that accepts and never answers would hold the caller for good);
* a scheduler that could not be reached, or did not answer a call in time, is
  remembered for ``TETHYS_COMPUTE["ENGINE_FAILURE_MEMORY"]`` seconds: meanwhile every use
  of its address fails at once with the remembered reason instead of each paying the
  timeout again (per process; :func:`forget_failure` or a success ends it early);
* a forked child process never uses its parent's clients (their IO loop thread does not
  exist in the child); it opens its own;
* every client is closed when the interpreter exits.

Clients are created with ``set_as_default=False``: using tethys_compute never changes
the default scheduler of ``dask.compute`` in the web process.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import os
import threading
from contextlib import contextmanager

from ..failures import FailureMemory, memory_seconds
from .errors import DaskJobException, DaskSchedulerUnavailable

logger = logging.getLogger("tethys_compute.dask")

#: Client statuses after which a client can no longer be used.
_DEAD = ("closing", "closed", "failed")


class _Entry:
    __slots__ = ("client", "users", "retired")

    def __init__(self, client):
        self.client = client
        self.users = 0
        self.retired = False


class ClientCache:
    """The clients of one process, keyed by normalized scheduler address."""

    def __init__(self):
        self._lock = threading.Lock()
        self._address_locks: dict[str, threading.Lock] = {}
        self._entries: dict[str, _Entry] = {}
        self._pid = os.getpid()

    def _check_fork(self):
        # Called with self._lock held.
        if os.getpid() != self._pid:
            # The parent's clients belong to the parent (their loop thread is not in
            # this process); forget them without closing.
            self._entries = {}
            self._address_locks = {}
            self._pid = os.getpid()

    def acquire(self, address, timeout=None, heartbeat_interval=None) -> tuple[str, _Entry]:
        """Return ``(address, entry)`` with one more user counted on the entry."""
        address = normalize_address(address)
        with self._lock:
            self._check_fork()
            _raise_if_remembered(address)
            entry = self._entries.get(address)
            if entry is not None and _alive(entry.client):
                entry.users += 1
                return address, entry
            address_lock = self._address_locks.setdefault(address, threading.Lock())
        # Connect outside the cache lock: a slow scheduler never blocks other addresses.
        with address_lock:
            with self._lock:
                # Another thread may have failed meanwhile, while this one waited.
                _raise_if_remembered(address)
                entry = self._entries.get(address)
                if entry is not None and _alive(entry.client):
                    entry.users += 1
                    return address, entry
                if entry is not None:
                    self._retire(address, entry)
            try:
                client = _connect(address, timeout, heartbeat_interval)
            except DaskSchedulerUnavailable as exc:
                remember_failure(address, exc)
                raise
            with self._lock:
                entry = _Entry(client)
                entry.users = 1
                self._entries[address] = entry
                return address, entry

    def release(self, address, entry):
        close = False
        with self._lock:
            entry.users -= 1
            close = entry.retired and entry.users <= 0
        if close:
            _close(entry.client)

    def _retire(self, address, entry):
        # Called with self._lock held; closes at once when nobody uses the client.
        if self._entries.get(address) is entry:
            del self._entries[address]
        entry.retired = True
        if entry.users <= 0:
            threading.Thread(target=_close, args=(entry.client,), daemon=True).start()

    def close(self, address) -> bool:
        """Retire the client of ``address``; it closes when its last user is done."""
        address = normalize_address(address)
        with self._lock:
            self._check_fork()
            entry = self._entries.get(address)
            if entry is None:
                return False
            self._retire(address, entry)
            return True

    def close_all(self, wait=True):
        """Retire every client of this process (closing those not in use now)."""
        with self._lock:
            self._check_fork()
            entries = list(self._entries.items())
            self._entries = {}
            idle = []
            for _address, entry in entries:
                entry.retired = True
                if entry.users <= 0:
                    idle.append(entry.client)
        for client in idle:
            if wait:
                _close(client)
            else:
                threading.Thread(target=_close, args=(client,), daemon=True).start()

    def addresses(self) -> list[str]:
        """Addresses that have an open client in this process."""
        with self._lock:
            self._check_fork()
            return sorted(a for a, e in self._entries.items() if _alive(e.client))


def normalize_address(address) -> str:
    """``"127.0.0.1:8786"`` -> ``"tcp://127.0.0.1:8786"``; other schemes kept.

    :raises DaskJobException: if ``address`` is empty or not a string.
    """
    if not isinstance(address, str) or not address.strip():
        raise DaskJobException(
            f"A Dask scheduler address must be a non-empty string, not {address!r}."
        )
    address = address.strip()
    return address if "://" in address else f"tcp://{address}"


def _alive(client) -> bool:
    return getattr(client, "status", "closed") not in _DEAD


def connect_timeout(timeout) -> float:
    """Seconds to wait for the scheduler: ``timeout`` if positive, else
    ``TETHYS_COMPUTE["DASK_TIMEOUT"]`` (10 s by default; Tethys's 0 means distributed's
    ``distributed.comm.timeouts.connect``, 30 s, too long for a web request)."""
    from ...conf import get_config

    return float(timeout or get_config()["DASK_TIMEOUT"])


# --- failure memory ------------------------------------------------------------------------
_FAILURES = FailureMemory()  # normalised scheduler addresses


def remember_failure(address, exc) -> None:
    """Remember that ``address`` did not answer (``exc`` says how), for
    ``TETHYS_COMPUTE["ENGINE_FAILURE_MEMORY"]`` seconds. A
    :class:`~tethys_compute.engines.dask.tasks.ResultsMissing` (a worker left; the
    scheduler answered) is not a scheduler failure and is ignored."""
    from .tasks import ResultsMissing

    if not isinstance(exc, ResultsMissing):
        _FAILURES.remember(normalize_address(address), exc)


def forget_failure(address) -> None:
    """Forget a remembered failure of ``address``: the next use tries it again."""
    _FAILURES.forget(normalize_address(address))


def remembered_failure(address) -> str | None:
    """The reason ``address`` failed, while that is remembered; else ``None``."""
    return _FAILURES.recall(normalize_address(address))


def _raise_if_remembered(address):
    reason = remembered_failure(address)
    if reason is not None:
        raise DaskSchedulerUnavailable(
            f"The Dask scheduler at {address} failed less than "
            f"{memory_seconds():g} s ago and is not asked again yet ({reason})",
            address=address,
        )


#: Connection attempts when distributed's client handshake is interrupted (see _connect).
HANDSHAKE_ATTEMPTS = 3


@functools.cache
def _client_class():
    """``distributed.Client``, made to close itself when it fails to start.

    A Client whose start fails is left half made (its IO loop thread running) and is
    closed only by its ``__del__``, which may then run in any thread, at a moment when that
    thread cannot take distributed's loop lock (another client is starting): seen here as
    a 10 s stall and a failed connection. Closing at once avoids it.
    """
    from dask.utils import parse_timedelta
    from distributed import Client
    from distributed.utils import wait_for

    class ClosingClient(Client):
        #: The scheduler address the client was opened for (set by ``_connect``).
        tethys_address = None

        async def _start(self, timeout=None, **kwargs):
            # distributed bounds the TCP connect by the timeout, not the handshake that
            # follows (it reads the scheduler's first message with no limit): bound the
            # whole start.
            bound = parse_timedelta(timeout if timeout is not None else self._timeout, "s")
            if not bound:
                return await super()._start(timeout=timeout, **kwargs)
            # A little over the timeout: distributed's own connect timeout, when it is
            # what runs out (a closed port), ends the start first and says so; a
            # cancellation landing at that same moment was seen to be lost (seconds more).
            bound += min(1.0, bound / 10)
            try:
                return await wait_for(super()._start(timeout=timeout, **kwargs), bound)
            except asyncio.TimeoutError as exc:
                raise TimeoutError(
                    f"no connection and handshake within {bound:g} s"
                ) from exc

        def start(self, **kwargs):
            try:
                return super().start(**kwargs)
            except BaseException:
                # Closed now, in a thread of its own: the caller (a request) does not
                # wait for the close, which may take its whole timeout.
                threading.Thread(target=self._close_quietly, daemon=True,
                                 name="tethys-compute-dask-close").start()
                raise

        def _close_quietly(self):
            try:
                self.close(timeout=2)
            except Exception:  # noqa: BLE001 - closing is best effort
                logger.debug("Closing a Dask client that failed to start failed",
                             exc_info=True)

    return ClosingClient


def _connect(address, timeout, heartbeat_interval):
    try:
        Client = _client_class()  # noqa: N806 - a class
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise DaskJobException(
            "Dask jobs need the distributed package: pip install 'tethys-compute[dask]'."
        ) from exc
    seconds = connect_timeout(timeout)
    kwargs = {"timeout": f"{seconds}s", "set_as_default": False}
    if heartbeat_interval:
        kwargs["heartbeat_interval"] = f"{float(heartbeat_interval)}s"
    for attempt in range(1, HANDSHAKE_ATTEMPTS + 1):
        try:
            client = Client(address, **kwargs)
        except AssertionError as exc:
            # distributed's Client asserts that the scheduler's first batch holds only its
            # "stream-start" message; a message the scheduler sends to every client at that
            # moment (a "cancelled-keys" report after any client's cancel, for one) lands in
            # the same batch. Nothing is wrong with the scheduler: connect again.
            if attempt < HANDSHAKE_ATTEMPTS:
                logger.info("Dask client handshake with %s failed (%r); retrying", address, exc)
                continue
            raise DaskJobException(
                f"Cannot connect to the Dask scheduler at {address}: the handshake failed "
                f"{HANDSHAKE_ATTEMPTS} times"
            ) from exc
        except (OSError, TimeoutError) as exc:
            raise DaskSchedulerUnavailable(
                f"Cannot reach the Dask scheduler at {address} within {seconds:g} s: {exc}",
                address=address,
            ) from exc
        except Exception as exc:  # noqa: BLE001 - e.g. a malformed address
            raise DaskJobException(
                f"Cannot connect to the Dask scheduler at {address}: {exc}"
            ) from exc
        client.tethys_address = address
        logger.info("Connected to the Dask scheduler at %s", address)
        return client


def _close(client):
    try:
        client.close(timeout=5)
    except Exception:  # noqa: BLE001 - closing is best effort
        logger.debug("Closing a Dask client failed", exc_info=True)


_CACHE = ClientCache()
atexit.register(_CACHE.close_all)


@contextmanager
def connection(address, timeout=None, heartbeat_interval=None):
    """Use the process's client for ``address`` for the duration of a ``with`` block.

    :param address: scheduler address (``"tcp://127.0.0.1:8786"``; ``"host:port"``
        means tcp).
    :param timeout: seconds to wait when connecting (0/None: distributed's default).
    :param heartbeat_interval: seconds between client heartbeats (0/None: default).
    :raises DaskSchedulerUnavailable: the scheduler cannot be reached within the timeout
        (connect and handshake), or it failed less than
        ``TETHYS_COMPUTE["ENGINE_FAILURE_MEMORY"]`` seconds ago (a
        :class:`DaskJobException` naming the address; transient for job status). The
        block raising it also makes the address remembered as failed.
    :raises DaskJobException: the address is not valid.
    """
    address, entry = _CACHE.acquire(address, timeout, heartbeat_interval)
    try:
        yield entry.client
    except DaskSchedulerUnavailable as exc:
        remember_failure(address, exc)
        raise
    finally:
        _CACHE.release(address, entry)


def get_client(address, timeout=None, heartbeat_interval=None):
    """Return the process's client for ``address`` (created on first use).

    Prefer :func:`connection` inside tethys_compute; this is for callers that keep the
    client (``DaskScheduler.client``, as Tethys exposes it). Do not close it: it is
    shared by every job of the process.
    """
    with connection(address, timeout, heartbeat_interval) as client:
        return client


def close_client(address) -> bool:
    """Close the process's client for ``address`` once no operation uses it. The next
    use opens a new one. Returns False when there was none."""
    return _CACHE.close(address)


def close_all():
    """Close every client of this process (also done at interpreter exit) and forget
    every remembered failure."""
    _CACHE.close_all()
    _FAILURES.clear()


def open_addresses() -> list[str]:
    """Scheduler addresses this process holds an open client for."""
    return _CACHE.addresses()
