"""What a Dask job computes, kept in the job's own directory so that ``resubmit()`` can
run it again after its task key was released.

``execute()`` writes ``<job.workspace>/dask_computation.pickle``: a cloudpickle of the
``Delayed`` or of ``(function, args, kwargs)``, preceded by one line holding a signature
of its SHA-256 made with Django's signing (``SECRET_KEY``, with
``SECRET_KEY_FALLBACKS`` honoured on load).

Trust model: this file is data the job itself wrote, never database content. Loading
it runs code (it is a pickle), so it is only loaded when the signature matches, i.e.
when this application wrote it; a file edited or planted by anyone without the secret
key is refused. Keep job directories private to the application, as for any file the
application later reads back. A ``Future`` cannot be rebuilt and is not stored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.core import signing

from .errors import DaskJobException

FILENAME = "dask_computation.pickle"
_SALT = "tethys_compute.dask_computation"


class Computation:
    """A job's work: a ``Delayed``, a ``Future`` or a function with its arguments."""

    def __init__(self, work, args=(), kwargs=None):
        self.work = work
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})

    @classmethod
    def from_call(cls, work=None, *args, **kwargs):
        """Check what ``DaskJob.execute(work, *args, **kwargs)`` was given.

        :raises ValueError: ``work`` is missing or is not a Delayed, Future or callable,
            or arguments were given with a Delayed or Future.
        """
        from dask.delayed import Delayed
        from distributed import Future

        if work is None:
            raise ValueError(
                "DaskJob.execute() needs the work to run: a dask Delayed, a distributed "
                "Future, or a function followed by its arguments."
            )
        if isinstance(work, (Delayed, Future)):
            if args or kwargs:
                raise ValueError(
                    f"Arguments are only accepted with a function; a {type(work).__name__} "
                    "already holds its arguments."
                )
        elif not callable(work):
            raise ValueError(
                "DaskJob.execute() takes a dask Delayed, a distributed Future or a function "
                f"with its arguments, not {type(work).__name__}."
            )
        return cls(work, args, kwargs)

    @property
    def is_delayed(self) -> bool:
        from dask.delayed import Delayed

        return isinstance(self.work, Delayed)

    @property
    def is_future(self) -> bool:
        from distributed import Future

        return isinstance(self.work, Future)

    @property
    def name(self) -> str:
        """A short name for the task key (the function's name)."""
        from dask.utils import funcname

        if self.is_future or self.is_delayed:
            return str(self.work.key).rsplit("-", 1)[0]
        try:
            return funcname(self.work)
        except Exception:  # noqa: BLE001 - any object may be callable
            return type(self.work).__name__

    # --- persistence ---------------------------------------------------------------------
    def save(self, directory) -> Path | None:
        """Write the signed pickle into ``directory`` (created if needed).

        Returns the file's path, or ``None`` for a Future (nothing to rebuild).

        :raises DaskJobException: the work cannot be pickled (it could not be sent to the
            cluster either).
        """
        if self.is_future:
            return None
        import cloudpickle

        payload = (self.work,) if self.is_delayed else (self.work, self.args, self.kwargs)
        try:
            data = cloudpickle.dumps(payload)
        except Exception as exc:  # noqa: BLE001 - any pickling failure
            raise DaskJobException(f"The job's work cannot be pickled: {exc}") from exc
        digest = hashlib.sha256(data).hexdigest()
        header = signing.Signer(salt=_SALT).sign(digest).encode("ascii")
        target = Path(directory) / FILENAME
        # A torn write cannot be loaded by mistake: the signature would not match.
        try:
            target.write_bytes(header + b"\n" + data)
        except FileNotFoundError:  # the directory is made only when it is missing
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(header + b"\n" + data)
        return target

    @classmethod
    def load(cls, directory) -> Computation:
        """Read back the work :meth:`save` wrote in ``directory``.

        :raises DaskJobException: no stored work, or its signature does not match (the
            file was not written by this application, or was changed).
        """
        import cloudpickle

        target = Path(directory) / FILENAME
        try:
            raw = target.read_bytes()
        except OSError as exc:
            raise DaskJobException(
                f"No stored computation in {directory}: the job was never executed with a "
                "Delayed or a function (a Future cannot be rebuilt), or its directory was "
                "removed. Pass the work again: job.resubmit(work, *args)."
            ) from exc
        header, _, data = raw.partition(b"\n")
        try:
            digest = signing.Signer(salt=_SALT).unsign(header.decode("ascii"))
        except (signing.BadSignature, UnicodeDecodeError) as exc:
            raise DaskJobException(
                f"Refusing to load {target}: its signature does not match (not written by "
                "this application, or changed since)."
            ) from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise DaskJobException(f"Refusing to load {target}: its content was changed.")
        payload = cloudpickle.loads(data)
        if len(payload) == 1:
            return cls(payload[0])
        work, args, kwargs = payload
        return cls(work, args, kwargs)
