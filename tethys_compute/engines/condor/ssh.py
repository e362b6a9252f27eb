"""A remote HTCondor submit host over SSH (paramiko).

Logins: password, or a private key of any type paramiko reads (RSA, ECDSA, ed25519),
with an optional passphrase. Host keys are checked against
``TETHYS_COMPUTE["CONDOR_SSH_KNOWN_HOSTS"]`` (or the system's ``~/.ssh/known_hosts``) and an
unknown host is refused unless ``CONDOR_SSH_HOST_KEY_POLICY`` says ``"warn"`` (accept,
log a warning) or ``"auto-add"`` (accept and remember it in the known_hosts file); a
changed host key is always refused.

One connection per set of login parameters is kept per process and shared by threads
(SSH multiplexes channels); a dropped connection is reopened on the next use. Every
failure to reach the host raises :class:`~tethys_compute.exceptions.EngineUnavailable`,
which the status rules treat as transient. Connecting is bounded by
``CONDOR_SSH_TIMEOUT`` for each of the TCP connection, the SSH banner and the login; a
host that could not be reached (refused, unreachable, no answer in time) is remembered
for ``TETHYS_COMPUTE["ENGINE_FAILURE_MEMORY"]`` seconds, during which connecting to it
fails at once with the remembered reason (:func:`forget_failure` ends it early).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import posixpath
import select
import shlex
import socket
import stat
import threading
import time
from dataclasses import dataclass

import paramiko

from ...exceptions import EngineUnavailable
from ...log_files import OutsideDirectory, inside
from ..failures import FailureMemory, memory_seconds
from .transport import MAX_READ_BYTES, CommandResult, Transport

logger = logging.getLogger("tethys_compute.condor.ssh")

class _LogAndAcceptPolicy(paramiko.MissingHostKeyPolicy):
    """Accept an unknown host key and log it (``"warn"``)."""

    def missing_host_key(self, client, hostname, key):
        logger.warning(
            "Accepting the unknown SSH host key of %s (%s %s) because "
            'CONDOR_SSH_HOST_KEY_POLICY is "warn".',
            hostname, key.get_name(), key.get_fingerprint().hex(),
        )


POLICIES = {
    "reject": paramiko.RejectPolicy,
    "warn": _LogAndAcceptPolicy,
    "auto-add": paramiko.AutoAddPolicy,
}


class SSHConnectionError(EngineUnavailable):
    """The submit host could not be reached or refused the login."""

    #: True when the host could not be reached at all (refused, no answer, no SSH
    #: banner): remembered for ``ENGINE_FAILURE_MEMORY`` seconds. A refused login is not.
    unreachable: bool = False


@dataclass(frozen=True)
class SSHSettings:
    """Login parameters of one submit host (``password``/``key_passphrase`` plain text,
    in memory only) and the client's policy."""

    host: str
    port: int
    username: str
    password: str | None = None
    key_path: str | None = None
    key_passphrase: str | None = None
    known_hosts: str | None = None
    host_key_policy: str = "reject"
    connect_timeout: float = 30
    command_timeout: float = 120

    def describe(self):
        return f"{self.username}@{self.host}:{self.port}"

    def pool_key(self):
        """Identifies a connection; secrets enter only as a digest, and the key file's
        modification time makes a replaced key open a new connection."""
        mtime = None
        if self.key_path:
            with contextlib.suppress(OSError):
                mtime = os.path.getmtime(os.path.expanduser(self.key_path))
        digest = hashlib.sha256(
            repr((self.password, self.key_path, mtime, self.key_passphrase)).encode()
        ).hexdigest()
        return (self.host, self.port, self.username, digest, self.known_hosts,
                self.host_key_policy)


def load_private_key(path, passphrase=None):
    """Read a private key of any type paramiko supports.

    :raises SSHConnectionError: naming the problem (missing file, passphrase needed or
        wrong).
    """
    path = os.path.expanduser(path)
    secret = passphrase.encode("utf-8") if passphrase else None
    try:
        return paramiko.PKey.from_path(path, password=secret)
    except FileNotFoundError:
        raise SSHConnectionError(f"The private key file {path} does not exist.") from None
    except TypeError:
        raise SSHConnectionError(
            f"The private key {path} is protected by a passphrase: set the scheduler's "
            "private key passphrase."
        ) from None
    except (ValueError, paramiko.SSHException) as exc:
        raise SSHConnectionError(
            f"The private key {path} cannot be read with the given passphrase "
            f"(wrong passphrase, or not a private key): {exc}"
        ) from None


class _Connection:
    def __init__(self, settings: SSHSettings):
        self.settings = settings
        self.lock = threading.Lock()
        self.client = None
        self.local = threading.local()  # one SFTP session per thread (SFTP is not thread-safe)

    def get(self) -> paramiko.SSHClient:
        with self.lock:
            client = self.client
            if client is not None:
                transport = client.get_transport()
                if transport is not None and transport.is_active():
                    return client
                client.close()
                self.client = None
            where = f"{self.settings.host}:{self.settings.port}"
            reason = _failures.recall(where)
            if reason is not None:
                raise SSHConnectionError(
                    f"{self.settings.describe()} could not be reached less than "
                    f"{memory_seconds():g} s ago and is not asked again yet ({reason})"
                )
            try:
                self.client = _connect(self.settings)
            except SSHConnectionError as exc:
                if exc.unreachable:
                    _failures.remember(where, exc)
                raise
            return self.client

    def sftp(self):
        """This thread's SFTP session on the current connection."""
        client = self.get()
        cached = getattr(self.local, "sftp", None)
        if cached is not None and cached[0] is client and not cached[1].sock.closed:
            return client, cached[1]
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(self.settings.command_timeout)
        self.local.sftp = (client, sftp)
        return client, sftp

    def invalidate(self, client=None):
        with self.lock:
            if self.client is not None and (client is None or client is self.client):
                self.client.close()
                self.client = None


def _connect(settings: SSHSettings) -> paramiko.SSHClient:
    where = settings.describe()
    client = paramiko.SSHClient()
    known = settings.known_hosts
    try:
        if known:
            if os.path.exists(known):
                client.load_host_keys(known)
            elif settings.host_key_policy == "auto-add":
                open(known, "a").close()
                client.load_host_keys(known)
            else:
                raise SSHConnectionError(f"The known_hosts file {known} does not exist.")
        else:
            client.load_system_host_keys()
    except OSError as exc:
        raise SSHConnectionError(f"Cannot read the known_hosts file: {exc}") from None
    policy = POLICIES.get(settings.host_key_policy)
    if policy is None:
        raise SSHConnectionError(
            f'Unknown CONDOR_SSH_HOST_KEY_POLICY "{settings.host_key_policy}": use "reject", '
            '"warn" or "auto-add".'
        )
    client.set_missing_host_key_policy(policy())
    pkey = None
    if settings.key_path:
        pkey = load_private_key(settings.key_path, settings.key_passphrase)
    if pkey is None and not settings.password:
        raise SSHConnectionError(f"No password or private key is set to log in to {where}.")
    timeout = settings.connect_timeout
    try:
        client.connect(
            settings.host, port=settings.port, username=settings.username,
            password=settings.password, pkey=pkey,
            passphrase=None, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
            allow_agent=False, look_for_keys=False,
        )
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise SSHConnectionError(
            f"The SSH host key of {settings.host}:{settings.port} does not match the one in "
            f"known_hosts (got {exc.key.get_name()}): refusing to connect (a changed host "
            "key may mean someone is intercepting the connection)."
        ) from None
    except paramiko.AuthenticationException as exc:
        client.close()
        raise SSHConnectionError(f"SSH login to {where} was refused: {exc}") from None
    except paramiko.SSHException as exc:
        client.close()
        if "known_hosts" in str(exc):
            source = known or "~/.ssh/known_hosts"
            raise SSHConnectionError(
                f"The SSH host key of {settings.host}:{settings.port} is not known: add it to "
                f"{source} (ssh-keyscan -p {settings.port} {settings.host} >> {source}) or set "
                'TETHYS_COMPUTE["CONDOR_SSH_HOST_KEY_POLICY"].'
            ) from None
        # No banner in time, a broken handshake: the host does not answer as an SSH
        # server should (remembered, as an unreachable host).
        raise _unreachable(f"SSH connection to {where} failed: {exc}") from None
    except TimeoutError:
        client.close()
        raise _unreachable(f"{where} did not answer within {timeout} seconds.") from None
    except (OSError, EOFError) as exc:
        client.close()
        raise _unreachable(f"Cannot connect to {where}: {exc}") from None
    client.get_transport().set_keepalive(30)
    return client


def _unreachable(message) -> SSHConnectionError:
    exc = SSHConnectionError(message)
    exc.unreachable = True
    return exc


_failures = FailureMemory()  # "host:port" of submit hosts that could not be reached


def forget_failure(host, port) -> None:
    """Forget that ``host``:``port`` could not be reached: the next use tries again."""
    _failures.forget(f"{host}:{port}")


_pool: dict = {}
_pool_lock = threading.Lock()


def connection(settings: SSHSettings) -> _Connection:
    """The process's shared connection for these login parameters."""
    key = settings.pool_key()
    with _pool_lock:
        conn = _pool.get(key)
        if conn is None:
            conn = _pool[key] = _Connection(settings)
        return conn


def close_all():
    """Close every pooled SSH connection (at exit, and in tests) and forget every
    remembered failure."""
    _failures.clear()
    with _pool_lock:
        connections = list(_pool.values())
        _pool.clear()
    for conn in connections:
        conn.invalidate()


atexit.register(close_all)

_TRANSIENT = (paramiko.SSHException, OSError, EOFError, socket.timeout)


class SSHTransport(Transport):
    """Commands and files on a remote submit host. Relative paths start in the login
    directory."""

    remote = True

    def __init__(self, settings: SSHSettings):
        self.settings = settings
        self.conn = connection(settings)

    def describe(self):
        return self.settings.describe()

    def _fail(self, client, action, exc):
        self.conn.invalidate(client)
        raise SSHConnectionError(
            f"Lost the SSH connection to {self.describe()} while {action}: "
            f"{exc or type(exc).__name__}"
        ) from None

    # --- commands -----------------------------------------------------------------------
    def run(self, command, cwd=None, timeout=None):
        text = command if isinstance(command, str) else shlex.join(command)
        if cwd:
            text = f"cd {shlex.quote(cwd)} && {text}"
        timeout = timeout or self.settings.command_timeout
        client = self.conn.get()
        try:
            channel = client.get_transport().open_session(timeout=self.settings.connect_timeout)
            try:
                channel.exec_command(text)
                return _collect(channel, timeout, self.describe())
            finally:
                channel.close()
        except SSHConnectionError:
            raise
        except _TRANSIENT as exc:
            self._fail(client, "running a command", exc)

    # --- files --------------------------------------------------------------------------
    @contextlib.contextmanager
    def sftp(self):
        client = None
        try:
            client, sftp = self.conn.sftp()
        except SSHConnectionError:
            raise
        except _TRANSIENT as exc:
            self._fail(client, "opening SFTP", exc)
        try:
            yield sftp
        except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
            raise
        except _TRANSIENT as exc:
            self._fail(client, "transferring files", exc)

    def makedirs(self, path):
        with self.sftp() as sftp:
            _makedirs(sftp, path)

    def open(self, path, mode="r"):
        with self.sftp() as sftp:
            return _RemoteFile(sftp.open(path, mode), "b" not in mode)

    def read_bytes(self, path, limit=MAX_READ_BYTES):
        with self.sftp() as sftp, sftp.open(path, "rb") as handle:
            size = handle.stat().st_size
            if size > limit:
                handle.seek(size - limit)
            return handle.read()

    @staticmethod
    def _resolved_within(sftp, base, relative):
        """``relative`` under ``base`` as the server resolves it (SFTP realpath: symlinks
        and ".."); the resolved path is the one used.

        :raises OutsideDirectory: if it resolves outside ``base``.
        """
        root = sftp.normalize(base)
        target = sftp.normalize(posixpath.join(root, relative))
        if not inside(root, target, sep="/"):
            raise OutsideDirectory(relative)
        return target

    def open_within(self, base, relative):
        with self.sftp() as sftp:
            target = self._resolved_within(sftp, base, relative)
            attrs = sftp.stat(target)
            if not stat.S_ISREG(attrs.st_mode or 0):
                raise IsADirectoryError(relative)
            return sftp.open(target, "rb"), attrs.st_size

    def listdir_within(self, base, relative):
        with self.sftp() as sftp:
            return sftp.listdir(self._resolved_within(sftp, base, relative))

    def exists(self, path):
        with self.sftp() as sftp:
            try:
                sftp.stat(path)
            except FileNotFoundError:
                return False
            return True

    def listdir(self, path):
        with self.sftp() as sftp:
            return sftp.listdir(path)

    def upload(self, local_path, path):
        with self.sftp() as sftp:
            _upload(sftp, local_path, path)

    def download(self, path, local_path):
        with self.sftp() as sftp:
            _download(sftp, path, local_path)

    def remove_tree(self, path):
        clean = posixpath.normpath(path)
        if clean in ("", ".", "..", "/") or clean.startswith("../"):
            raise ValueError(f"Refusing to remove {path!r} on {self.describe()}.")
        self.run(["rm", "-rf", "--", clean])


def _collect(channel, timeout, where):
    out, err = [], []
    deadline = time.monotonic() + timeout
    while True:
        if channel.recv_ready():
            out.append(channel.recv(65536))
            continue
        if channel.recv_stderr_ready():
            err.append(channel.recv_stderr(65536))
            continue
        if channel.exit_status_ready() and channel.eof_received:
            break
        if channel.closed and not channel.exit_status_ready():
            raise EOFError("the channel closed before the command finished")
        if time.monotonic() > deadline:
            raise SSHConnectionError(
                f"A command on {where} did not finish within {timeout} seconds.")
        select.select([channel], [], [], 0.1)
    code = channel.recv_exit_status()
    if code == -1:
        raise EOFError("the command ended without an exit status")
    return CommandResult(
        b"".join(out).decode("utf-8", "replace"), b"".join(err).decode("utf-8", "replace"), code
    )


class _RemoteFile:
    """An SFTP file taking ``str`` in text mode (condorpy writes text)."""

    def __init__(self, handle, text):
        self.handle, self.text = handle, text

    def write(self, data):
        if self.text and isinstance(data, str):
            data = data.encode("utf-8")
        return self.handle.write(data)

    def read(self, *args):
        data = self.handle.read(*args)
        return data.decode("utf-8", "replace") if self.text else data

    def close(self):
        self.handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _makedirs(sftp, path):
    """``mkdir -p`` over SFTP: one round trip when the parent exists."""
    path = posixpath.normpath(path)
    if path in ("", ".", "/"):
        return
    try:
        sftp.mkdir(path)
        return
    except OSError:
        pass
    try:
        if stat.S_ISDIR(sftp.stat(path).st_mode):
            return
    except FileNotFoundError:
        pass
    parent = posixpath.dirname(path)
    if parent:
        _makedirs(sftp, parent)
    sftp.mkdir(path)


def _upload(sftp, local_path, path):
    if os.path.isdir(local_path):
        _makedirs(sftp, path)
        for name in os.listdir(local_path):
            _upload(sftp, os.path.join(local_path, name), posixpath.join(path, name))
        return
    _makedirs(sftp, posixpath.dirname(path))
    sftp.put(local_path, path)
    sftp.chmod(path, stat.S_IMODE(os.stat(local_path).st_mode))


def _download(sftp, path, local_path):
    attrs = sftp.stat(path)
    if stat.S_ISDIR(attrs.st_mode):
        os.makedirs(local_path, exist_ok=True)
        for entry in sftp.listdir_attr(path):
            _download(sftp, posixpath.join(path, entry.filename),
                      os.path.join(local_path, entry.filename))
        return
    with contextlib.suppress(OSError):
        local = os.stat(local_path)
        if local.st_size == attrs.st_size and int(local.st_mtime) == int(attrs.st_mtime):
            return
    os.makedirs(os.path.dirname(local_path) or ".", exist_ok=True)
    partial = f"{local_path}.part-{os.getpid()}-{threading.get_ident()}"
    try:
        sftp.get(path, partial)
        os.chmod(partial, stat.S_IMODE(attrs.st_mode))
        os.utime(partial, (attrs.st_atime, attrs.st_mtime))
        os.replace(partial, local_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)
