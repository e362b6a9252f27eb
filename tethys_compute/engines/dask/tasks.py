"""Task operations on a ``distributed`` scheduler, by key, from any process.

How a job's task is kept (a ``Future(key, new_client)`` never updates on current
distributed, so status is asked of the scheduler by key):

* each job's task has its own key (``<name>-<32 hex>``; a ``Delayed`` or a ``Future`` is
  wrapped in a one-step task of its own), so identical computations of two jobs never
  share a key;
* the task is held as a ``distributed.Variable`` named by its key (distributed's public
  API for sharing a future between clients), so it keeps running when the web process
  that submitted it exits, and its result or error stays on the cluster until
  tethys_compute has stored it and calls :func:`release` (``Variable.delete``, which also
  removes the variable's holder from the scheduler). A job's task (``submit`` with an
  ``annotation`` naming its key and an ``accept_timeout``) is held by the scheduler's
  :class:`.hold_plugin.TaskHolder` as its graph arrives (:func:`install_holder`
  registers it once per scheduler): the task and its hold travel in one message and
  ``submit`` returns once it is sent. Otherwise (or when the scheduler refuses the
  plugin) ``submit`` holds it with a round trip: ``Variable.set``, or
  :func:`hold_when_accepted`. Any process can follow
  the task with ``Variable.get`` (:func:`future_for_key`); :func:`cancel` is
  ``Client.cancel(..., force=True)`` followed by :func:`release`.
  (``Client.publish_dataset`` holds keys the same way, but the scheduler keeps one
  ``published-<name>`` client record per dataset name for ever, even after
  ``unpublish_dataset``: one per job on a long-lived scheduler. ``fire_and_forget``
  drops the result on completion.)
* status is read by key with the scheduler's ``get_task_status`` handler (one call for
  any number of keys), results are gathered by key through the scheduler's ``gather``
  handler, and exception texts are read on the scheduler with ``run_on_scheduler``.
  None of this needs a ``Future`` or the client that submitted the task.

``client.scheduler`` (the client's RPC to its scheduler) carries the queries;
tests/engines/dask exercises them on the installed version.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid
import weakref

from .errors import DaskJobException, DaskSchedulerUnavailable

#: Annotation (``dask.annotate``) that carries a job's key and status token to the
#: scheduler plugin (:mod:`tethys_compute.engines.dask.plugin`).
ANNOTATION = "tethys_compute"

_KEY_PREFIX = re.compile(r"[^A-Za-z0-9_.]+")
# dask.annotate() sets process-global dask config: serialize our submissions so that
# two threads never swap each other's annotations.
_SUBMIT_LOCK = threading.Lock()


def new_key(name) -> str:
    """A fresh task key ``<name>-<32 hex digits>`` (``name`` made URL-safe)."""
    prefix = _KEY_PREFIX.sub("_", str(name or "task")).strip("_")[:64] or "task"
    return f"{prefix}-{uuid.uuid4().hex}"


def _unavailable(client_or_address, exc, what):
    address = getattr(getattr(client_or_address, "scheduler", None), "address", None)
    # A client that distributed is closing has no scheduler RPC left: the address it was
    # opened for (engines.dask.clients sets it).
    address = address or getattr(client_or_address, "tethys_address", None) or client_or_address
    return DaskSchedulerUnavailable(
        f"The Dask scheduler at {address} did not answer ({what}): {exc or type(exc).__name__}",
        address=address,
    )


def _rpc(client, method, timeout, **kwargs):
    try:
        return client.sync(getattr(client.scheduler, method), callback_timeout=timeout, **kwargs)
    except (OSError, TimeoutError) as exc:
        raise _unavailable(client, exc, method) from exc


def _timeout(timeout):
    from .clients import connect_timeout

    return connect_timeout(timeout)


# --- submission --------------------------------------------------------------------------
def submit(client, work, *args, key, annotation=None, accept_timeout=None,
           capture_limit=None, **kwargs):
    """Submit ``work`` under ``key`` and hold the key (see module docs).

    :param work: a ``dask.delayed.Delayed``, a ``distributed.Future`` or a callable
        (called on a worker with ``*args, **kwargs``).
    :param key: the task key to use (from :func:`new_key`).
    :param annotation: a dict stored as the ``tethys_compute`` task annotation.
    :param accept_timeout: when given, seconds to wait for the scheduler (registering
        the hold plugin; or, without the plugin, for the scheduler to have taken the task
        in: :func:`hold_when_accepted`). With the plugin and an ``annotation`` whose
        ``"key"`` is ``key``, ``submit`` returns as soon as the submission is sent, and a
        refusal is told later by :func:`refusal`.
    :param capture_limit: when given (bytes per stream), a function's stdout, stderr and
        exception are captured on the worker (:mod:`.capture`; read with :mod:`.output`).
    :returns: the task key.
    :raises ValueError: ``work`` is none of the above, or ``args`` were given with a
        ``Delayed`` or ``Future``.
    :raises TaskRefused: the scheduler refused the task (``accept_timeout`` given,
        and the scheduler without the plugin).
    :raises DaskSchedulerUnavailable: the client can no longer reach the scheduler, or
        it did not take the task in within ``accept_timeout`` seconds.
    """
    import dask
    from dask.delayed import Delayed
    from distributed import Future

    from .delayed_call import single_call

    if isinstance(work, (Delayed, Future)) and (args or kwargs):
        raise ValueError(
            f"Arguments are only accepted with a function; a {type(work).__name__} already "
            "holds its arguments."
        )
    sender = work.client if isinstance(work, Future) else client
    # The scheduler's plugin holds the task as it arrives: nothing to wait for.
    held_on_arrival = (accept_timeout is not None and (annotation or {}).get("key") == key
                       and install_holder(sender, accept_timeout))
    with _SUBMIT_LOCK, dask.annotate(**{ANNOTATION: annotation or {}}):
        call = single_call(work) if isinstance(work, Delayed) and work.key != key else None
        if call is not None:  # one plain task: submitted as its call, one task, same result
            future = client.submit(call[0], *call[1], key=key, pure=False, **call[2])
        elif isinstance(work, Delayed):
            future = client.compute(work if work.key == key else keyed_delayed(work, key))
        elif isinstance(work, Future):
            from dask.local import identity

            # The future's own key may be shared (pure=True); the job's key is a task of
            # its own that depends on it. Futures belong to the client that made them.
            future = work.client.submit(identity, work, key=key, pure=False)
        elif callable(work) and capture_limit:
            from .output import captured_call

            future = client.submit(*captured_call(key, capture_limit, work), *args, key=key,
                                   pure=False, **kwargs)
        elif callable(work):
            future = client.submit(work, *args, key=key, pure=False, **kwargs)
        else:
            raise ValueError(
                "DaskJob.execute() takes a dask Delayed, a distributed Future or a function "
                f"with its arguments, not {type(work).__name__}."
            )
    key = future.key
    if held_on_arrival:
        # On the client's loop, after the submission's own send (callbacks run in order).
        sender.loop.add_callback(_sent, sender, future)
        return key
    try:
        if accept_timeout is not None:
            # One round trip: the scheduler sets the variable as soon as it has the task
            # (a refused task is told apart from a slow scheduler at once).
            hold_when_accepted(future, accept_timeout)
        else:
            hold(future.client, [future])
    except DaskSchedulerUnavailable:
        # Not held: let the task go rather than leave it to a client that may close.
        with contextlib.suppress(Exception):
            future.client.cancel([future], force=True, reason="tethys_compute: hold failed")
        raise
    return key


def install_holder(client, timeout) -> bool:
    """Make sure the scheduler of ``client`` runs :class:`.hold_plugin.TaskHolder`:
    registered with ``Client.register_plugin`` once per scheduler per client (a new
    scheduler at the same address, seen by its id, gets it again).

    :param timeout: seconds (the scheduler's call timeout).
    :returns: True when the scheduler holds annotated tasks as they arrive; False when it
        refused the plugin (e.g. ``distributed.scheduler.pickle`` is off, or it has no
        variables extension): the caller holds each task with a round trip instead.
    :raises DaskSchedulerUnavailable: the scheduler did not answer within ``timeout``.
    """
    identity = getattr(client, "_scheduler_identity", None) or {}
    scheduler_id = identity.get("id") or getattr(client.scheduler, "address", None)
    known = _HOLDERS.get(client)
    if known is not None and known[0] == scheduler_id:
        return known[1]
    import cloudpickle

    from . import hold_plugin

    cloudpickle.register_pickle_by_value(hold_plugin)
    try:
        client.sync(client.scheduler.register_scheduler_plugin,
                    plugin=_holder_pickle(hold_plugin), name=hold_plugin.TaskHolder.name,
                    idempotent=True, callback_timeout=_timeout(timeout))
        installed = True
    except (OSError, TimeoutError) as exc:
        raise _unavailable(client, exc, "register_plugin") from exc
    except Exception as exc:  # noqa: BLE001 - the scheduler refused the plugin
        import logging

        logging.getLogger("tethys_compute.dask").warning(
            "The Dask scheduler at %s refused the task-holding plugin (%s); each "
            "execute() holds its task with a round trip instead.",
            getattr(client.scheduler, "address", "?"), exc)
        installed = False
    _HOLDERS[client] = (scheduler_id, installed)
    return installed


#: Per client: ``(scheduler id, whether that scheduler took the plugin)``; kept beside
#: the client rather than on it (no attributes added to distributed's objects).
_HOLDERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_HOLDER_PICKLE: list = []


def _holder_pickle(module):
    if not _HOLDER_PICKLE:
        from distributed.protocol.pickle import dumps

        _HOLDER_PICKLE.append(dumps(module.TaskHolder(annotation=ANNOTATION)))
    return _HOLDER_PICKLE[0]


class TaskRefused(DaskJobException):
    """The scheduler refused a submitted task (e.g. it could not load the task graph);
    the message carries the scheduler's reason."""


def wait_accepted(future, timeout):
    """Wait until the scheduler has taken ``future``'s task in: it knows the key, or it
    reported that it refused the task.

    A submission travels on the client's batched stream while queries use other
    connections, so a status query sent right after a submission can reach the scheduler
    first and find no task: waiting here means a job is never read as "unknown to the
    engine" just after it was submitted.

    :param timeout: seconds (the scheduler's call timeout).
    :raises TaskRefused: the scheduler refused the task; the message gives its reason.
    :raises DaskSchedulerUnavailable: neither happened within ``timeout`` seconds.
    """
    client, key = future.client, future.key
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        refused = future.status == "error"  # read before asking: see below
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DaskSchedulerUnavailable(
                f"The Dask scheduler at {client.scheduler.address} did not take task {key} "
                f"in within {timeout:g} s", address=client.scheduler.address,
            )
        if task_states(client, [key], remaining).get(key) is not None:
            return  # taken in (a task that ran and erred is known too, as "erred")
        if refused:
            # Erred and unknown to the scheduler: it never took the task in.
            raise TaskRefused(f"The Dask scheduler refused task {key}: {_refusal(future)}")
        time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 2, 0.2)


def hold_when_accepted(future, timeout):
    """:func:`wait_accepted` and :func:`hold` in one call to the scheduler.

    The submission is sent at once (:func:`_send_now`), then one call waits on the
    scheduler until it knows the key and sets the task's Variable there
    (:func:`_hold_on_scheduler`), so it both waits for the task to be taken in and holds
    it; meanwhile the future is watched for a refusal (the scheduler could not load the
    task: the future errs while the key stays unknown). Saves the separate status
    queries (and their pauses) of :func:`wait_accepted` on every submission.

    :param timeout: seconds (the scheduler's call timeout).
    :raises TaskRefused: the scheduler refused the task; the message gives its reason.
    :raises DaskSchedulerUnavailable: the scheduler did not take the task in, or did not
        answer, within ``timeout`` seconds.
    """
    import asyncio

    client = future.client

    async def hold_or_erred():
        _send_now(client)
        setting = asyncio.ensure_future(_hold_on_scheduler(client, future, timeout))
        while True:
            done, _ = await asyncio.wait({setting}, timeout=0.005)
            if done:
                setting.result()
                return True
            if future.status == "error":
                setting.cancel()
                return False

    try:
        held = client.sync(hold_or_erred, callback_timeout=timeout + 5)
    except (OSError, TimeoutError) as exc:
        raise _unavailable(client, exc, "Variable.set") from exc
    if not held:
        # Erred before the hold: refused (unknown to the scheduler), or it ran and
        # failed already (known: then hold it as usual, its error is the job's).
        wait_accepted(future, timeout)
        hold(client, [future], timeout)


#: Reasons the scheduler gave for refusing tasks this process submitted, by key (the
#: newest few hundred): read by :func:`refusal`.
_REFUSED: dict = {}
_REFUSED_KEEP = 512


def _sent(client, future):
    """On the client's loop, right after a submission: send it now (:func:`_send_now`),
    and watch its future until it ends, so that a refusal (the scheduler could not load
    the task: the future errs, the key stays unknown) is remembered with its reason."""
    _send_now(client)
    future.add_done_callback(_note_error)


def _note_error(future):
    if future.status != "error":
        return
    _REFUSED[future.key] = f"The Dask scheduler refused task {future.key}: {_refusal(future)}"
    while len(_REFUSED) > _REFUSED_KEEP:
        _REFUSED.pop(next(iter(_REFUSED)), None)


def refusal(key) -> str | None:
    """Why the scheduler refused task ``key``, when this process submitted it and was told
    (the future of a refused task errs while its key stays unknown); else ``None``.
    Only meaningful for a key the scheduler does not know: a task that ran and failed is
    known to it (held), as ``erred``."""
    return _REFUSED.get(key)


def forgotten(client, keys, timeout) -> list | None:
    """The subset of ``keys`` that reached the scheduler, were held by its plugin (in the
    last ten minutes) and are no longer known to it (one call), or ``None`` when the scheduler
    runs no hold plugin.

    :raises DaskSchedulerUnavailable: no answer within ``timeout`` seconds.
    """
    import cloudpickle

    from . import hold_plugin

    cloudpickle.register_pickle_by_value(hold_plugin)
    try:
        return client.run_on_scheduler(hold_plugin.forgotten, list(keys),
                                       callback_timeout=_timeout(timeout))
    except (OSError, TimeoutError) as exc:
        raise _unavailable(client, exc, "forgotten") from exc


def _send_now(client):
    """Let the client's stream to the scheduler send what it holds (the submission) now.

    The stream (distributed's ``BatchedSend``) sends at most once per 10 ms interval: a
    submission made within 10 ms of the previous one waits for the rest of it, and
    ``execute()`` waits for the scheduler to have the task. Best effort: it touches the
    stream's internals, and does nothing if they are not as expected.
    """
    stream = getattr(client, "scheduler_comm", None)
    if getattr(stream, "buffer", None) and hasattr(stream, "next_deadline") and hasattr(
            getattr(stream, "waker", None), "set"):
        stream.next_deadline = None
        stream.waker.set()


_HOLD_FUNCTION: list = []


async def _hold_on_scheduler(client, future, timeout):
    """Hold ``future``'s task as its Variable once the scheduler knows it, with
    :func:`.scheduler_side.hold_when_known` (one call that checks every 0.5 ms at first);
    ``Variable.set`` (which checks every 10 ms) if the scheduler cannot run it.

    :raises TimeoutError: the task stayed unknown for ``timeout`` seconds.
    """
    from distributed import Variable
    from distributed.protocol.pickle import dumps

    if not _HOLD_FUNCTION:
        import cloudpickle

        from . import scheduler_side

        cloudpickle.register_pickle_by_value(scheduler_side)
        _HOLD_FUNCTION.append(dumps(scheduler_side.hold_when_known))
    response = await client.scheduler.run_function(
        function=_HOLD_FUNCTION[0], args=dumps(()),
        kwargs=dumps({"key": future.key, "timeout": timeout}), wait=True)
    if response.get("status") == "OK":
        if not response.get("result"):
            raise TimeoutError(f"Task {future.key} unknown to scheduler.")
        return
    # The scheduler could not run the function (e.g. it cannot unpickle it).
    await Variable(future.key, client)._set(future, timeout)


def _refusal(future):
    try:
        exc = future.exception(timeout=1)
    except Exception as error:  # noqa: BLE001 - the reason is best effort
        return f"(its reason could not be read: {error})"
    cause = exc.__cause__ if exc is not None and exc.__cause__ is not None else None
    text = " ".join(str(exc or "no reason given").split())
    if cause is not None:
        text += f" ({type(cause).__name__}: {cause})"
    return text


def keyed_delayed(delayed, key):
    """Return a ``Delayed`` computing ``delayed`` under ``key``: a one-step task that
    passes its result on. The job's key is then its own even when the graph's keys are
    deterministic (``pure=True``) or the same ``Delayed`` runs again; the graph's inner
    tasks keep their keys, so Dask may share identical pure work, as it always does."""
    import dask
    from dask.local import identity

    return dask.delayed(identity, pure=False)(delayed, dask_key_name=key)


def hold(client, futures, timeout=None):
    """Keep the futures' tasks (and results) on the scheduler until :func:`release`:
    each is set as a ``distributed.Variable`` named by its key.

    :param futures: ``distributed.Future`` objects of ``client``.
    :param timeout: seconds to wait for the scheduler (None/0: distributed's connect
        timeout).
    :raises DaskSchedulerUnavailable: the scheduler did not confirm within ``timeout``.
    """
    from distributed import Variable

    seconds = _timeout(timeout)
    for future in futures:
        try:
            Variable(future.key, client).set(future, timeout=seconds,
                                             callback_timeout=seconds)
        except (OSError, TimeoutError) as exc:
            raise _unavailable(client, exc, "Variable.set") from exc


def release(client, keys, timeout=None):
    """Let the scheduler forget ``keys`` once nothing else needs them (``Variable.delete``,
    one message on the client's stream per key). Keys never held, or held by a scheduler
    that restarted since, are ignored.

    :raises DaskSchedulerUnavailable: the client is closed.
    """
    from distributed import Variable

    for key in keys:
        try:
            Variable(key, client).delete()
        except Exception as exc:  # noqa: BLE001 - a closed client raises a bare Exception
            raise _unavailable(client, exc, "Variable.delete") from exc


def cancel(client, keys, reason="cancelled by tethys_compute", timeout=None):
    """Cancel ``keys`` for every client that wants them (``Client.cancel(force=True)``),
    then :func:`release` them: queued work is dropped, and a result computed by a task
    still running is discarded (distributed cannot interrupt a running Python function).

    :raises DaskSchedulerUnavailable: the client is closed, or the scheduler did not
        answer within ``timeout`` seconds.
    """
    from distributed import Future

    keys = list(keys)
    if not keys:
        return
    try:
        client.cancel([Future(key, client) for key in keys], force=True, reason=reason,
                      msg=reason)
    except Exception as exc:  # noqa: BLE001 - a closed client raises a bare Exception
        raise _unavailable(client, exc, "cancel") from exc
    release(client, keys, timeout)


# --- queries -----------------------------------------------------------------------------
def task_states(client, keys, timeout):
    """``{key: state}`` for ``keys`` in ONE scheduler call; ``state`` is a scheduler task
    state (``"released"``, ``"waiting"``, ``"queued"``, ``"no-worker"``,
    ``"processing"``, ``"memory"``, ``"erred"``) or ``None`` for an unknown key.

    :raises DaskSchedulerUnavailable: no answer within ``timeout`` seconds.
    """
    keys = list(keys)
    if not keys:
        return {}
    return _rpc(client, "get_task_status", timeout, keys=keys)


def task_details(client, keys, timeout, limit=4000):
    """``{key: {"state", "exception", "traceback", "workers"}}`` read on the scheduler
    in one call (texts are ``None`` unless the task erred; at most ``limit`` characters
    each, the traceback's end).

    :raises DaskSchedulerUnavailable: no answer within ``timeout`` seconds.
    :raises DaskJobException: the scheduler refused to run the query (e.g. its
        ``distributed.scheduler.pickle`` setting is off).
    """
    import cloudpickle

    from . import scheduler_side

    keys = list(keys)
    if not keys:
        return {}
    cloudpickle.register_pickle_by_value(scheduler_side)
    try:
        return client.run_on_scheduler(
            scheduler_side.task_details, keys, limit, callback_timeout=timeout
        )
    except (OSError, TimeoutError) as exc:
        raise _unavailable(client, exc, "task details") from exc
    except Exception as exc:  # noqa: BLE001 - the scheduler may forbid run_function
        raise DaskJobException(f"The Dask scheduler could not describe the tasks: {exc}") from exc


class ResultsMissing(DaskSchedulerUnavailable):
    """Some results could not be gathered (their worker left); :attr:`keys` lists them."""

    def __init__(self, message, keys, address=None):
        super().__init__(message, address=address)
        self.keys = list(keys)


def gather(client, keys, timeout):
    """Fetch the results of ``keys`` (tasks in memory) through the scheduler in one call.

    :returns: ``{key: value}``.
    :raises ResultsMissing: some keys' data could not be fetched (``.keys``).
    :raises DaskSchedulerUnavailable: no answer within ``timeout`` seconds.
    """
    keys = list(keys)
    if not keys:
        return {}
    response = _rpc(client, "gather", timeout, keys=keys)
    if response.get("status") != "OK":
        missing = response.get("keys") or keys
        raise ResultsMissing(
            f"The results of {len(missing)} task(s) could not be fetched from the workers "
            f"(e.g. {missing[0]}).",
            missing,
            address=client.scheduler.address,
        )
    return response["data"]


def future_for_key(client, key, timeout=None):
    """A ``distributed.Future`` for ``key`` that follows the task: the job's variable
    (``Variable.get``, which also tells the scheduler this client wants it). A key no
    longer held (released, or unknown) gives a Future that stays pending.

    :raises DaskSchedulerUnavailable: the scheduler did not answer within ``timeout``.
    """
    from distributed import Future, Variable

    seconds = _timeout(timeout)
    # Variable.get waits for a variable that is not set: ask only for a key the
    # scheduler knows (the variable holds it until release).
    if task_states(client, [key], seconds).get(key) is not None:
        try:
            return Variable(key, client).get(timeout=seconds, callback_timeout=seconds)
        except OSError as exc:
            raise _unavailable(client, exc, "Variable.get") from exc
        except TimeoutError:
            pass  # released meanwhile
    return Future(key, client)


def scheduler_info(client, timeout):
    """The scheduler's identity dict (``workers``, ``address``...)."""
    return _rpc(client, "identity", timeout)


def logs(client, timeout):
    """``(scheduler_lines, {worker_address: lines})``; lines are ``(level, message)``.

    :raises DaskSchedulerUnavailable: no answer within ``timeout`` seconds (each call).
    """
    # The scheduler handlers behind Client.get_scheduler_logs/get_worker_logs, called
    # with a timeout (those methods take none).
    scheduler = _rpc(client, "logs", timeout)
    workers = _rpc(client, "worker_logs", timeout)
    return scheduler, workers
