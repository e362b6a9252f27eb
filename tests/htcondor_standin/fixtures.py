"""pytest fixtures: a local HTCondor stand-in pool, and a real ``sshd`` on 127.0.0.1 whose
test user has another stand-in pool on its ``PATH`` (a remote HTCondor submit host).

Loaded for the whole suite from ``tests/conftest.py`` (``pytest_plugins``), so the
admin's connection test and the Condor tests share them.

The SSH server needs root (as CI runs): it creates a throwaway user with ``useradd``,
gives it a password (``chpasswd``), authorizes RSA and ed25519 keys (with and without a
passphrase), and runs ``/usr/sbin/sshd`` with its own config and host key on a free
port. It is stopped and the user deleted at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from . import StandIn

SSHD = "/usr/sbin/sshd"
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"


@pytest.fixture
def standin(tmp_path, monkeypatch):
    """A fresh local stand-in pool whose tools are first on ``PATH``."""
    pool = StandIn(tmp_path / "pool").install()
    monkeypatch.setenv("PATH", pool.path_env())
    yield pool
    pool.shutdown()


@pytest.fixture(scope="module")
def module_standin(tmp_path_factory):
    """A stand-in pool shared by a module's tests (``PATH`` is not changed)."""
    pool = StandIn(tmp_path_factory.mktemp("pool")).install()
    yield pool
    pool.shutdown()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(*args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


@dataclass
class SSHServer:
    """A running sshd on 127.0.0.1 and what a client needs to log in."""

    base: Path
    host: str
    port: int
    user: str
    password: str
    home: Path
    keys: dict  # name -> (private key path, passphrase or None)
    known_hosts: Path
    host_public_key: str
    pool: StandIn
    config: Path
    password_auth: bool = True
    pid: int | None = None
    variants: list = field(default_factory=list)

    # --- process control -------------------------------------------------------------
    def start(self):
        # A pid file left by a killed sshd would name a dead process: drop() would then
        # miss the new listener.
        (self.base / f"sshd-{self.port}.pid").unlink(missing_ok=True)
        self.config.write_text(_sshd_config(self))
        log = self.base / f"sshd-{self.port}.log"
        _run(SSHD, "-f", str(self.config), "-E", str(log))
        deadline = time.time() + 10
        while time.time() < deadline:
            with contextlib.suppress(OSError, ValueError):
                self.pid = int((self.base / f"sshd-{self.port}.pid").read_text())
                with socket.create_connection((self.host, self.port), timeout=1):
                    return self
            time.sleep(0.02)
        raise RuntimeError(f"sshd did not start on port {self.port}: {log.read_text()}")

    def drop(self):
        """Kill sshd and every SSH session it serves: clients see the connection drop."""
        if self.pid is None:
            return
        victims = [self.pid, *_descendants(self.pid)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.pid = None
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    pass
            except OSError:
                return
            time.sleep(0.02)
        raise RuntimeError(f"sshd on port {self.port} still accepts connections after drop()")

    def variant(self, *, password_auth):
        """Another sshd for the same user and keys (e.g. key-only login)."""
        other = SSHServer(**{**self.__dict__, "port": free_port(), "pid": None, "variants": [],
                             "password_auth": password_auth,
                             "config": self.base / f"sshd_config_{len(self.variants) + 1}"})
        other.known_hosts = self.base / f"known_hosts_{other.port}"
        other.known_hosts.write_text(f"[{other.host}]:{other.port} {self.host_public_key}\n")
        other.start()
        self.variants.append(other)
        return other

    def run_as_user(self, *args, check=True):
        """Run a command as the SSH user (e.g. a stand-in tool), locally."""
        env = {"PATH": self.pool.path_env("/usr/local/bin:/usr/bin:/bin"), "HOME": str(self.home)}
        return subprocess.run([RUNUSER, "-u", self.user, "--", *map(str, args)], env=env,
                              cwd=str(self.home), capture_output=True, text=True, check=check)


def _sshd_config(server):
    return "\n".join([
        "ListenAddress 127.0.0.1",
        f"Port {server.port}",
        f"HostKey {server.base / 'host_ed25519'}",
        f"PidFile {server.base / f'sshd-{server.port}.pid'}",
        f"AuthorizedKeysFile {server.base / 'authorized_keys'}",
        "PubkeyAuthentication yes",
        f"PasswordAuthentication {'yes' if server.password_auth else 'no'}",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin no",
        f"AllowUsers {server.user}",
        "StrictModes no",
        "UsePAM no",
        "MaxSessions 200",
        "MaxStartups 200:30:400",
        "LogLevel ERROR",
        "Subsystem sftp internal-sftp",
        f"SetEnv PATH={server.pool.path_env('/usr/local/bin:/usr/bin:/bin')}",
        "",
    ])


def _descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _user_processes(uid):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
    return pids


@pytest.fixture(scope="session")
def ssh_server():
    """A real sshd on 127.0.0.1 (password, RSA and ed25519 logins) for a throwaway user
    with the HTCondor stand-in on its ``PATH``."""
    if os.geteuid() != 0:
        pytest.fail("The SSH tests create a throwaway user and run sshd: run them as root "
                    "(CI does), see .ci/run.")
    if not os.path.exists(SSHD):
        pytest.fail("openssh-server is missing: run .ci/system-deps")
    base = Path(tempfile.mkdtemp(prefix="tc-sshd-"))
    base.chmod(0o755)
    user = f"tcssh{secrets.token_hex(3)}"
    home = base / "home"
    home.mkdir()
    password = secrets.token_urlsafe(12)
    server = pool = None
    _run("useradd", "-M", "-d", str(home), "-s", "/bin/sh", user)
    try:
        _run("chpasswd", input=f"{user}:{password}\n")
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "host_ed25519"))
        keys = {}
        for name, kind, passphrase in (
            ("rsa", ["-t", "rsa", "-b", "2048", "-m", "PEM"], None),
            ("rsa_pass", ["-t", "rsa", "-b", "2048"], "rsa secret"),
            ("ed25519", ["-t", "ed25519"], None),
            ("ed25519_pass", ["-t", "ed25519"], "ed secret"),
        ):
            path = base / f"client_{name}"
            _run("ssh-keygen", "-q", *kind, "-N", passphrase or "", "-f", str(path))
            keys[name] = (path, passphrase)
        (base / "authorized_keys").write_text(
            "".join((base / f"client_{name}.pub").read_text() for name in keys))
        (base / "authorized_keys").chmod(0o644)
        pool = StandIn(home / "standin", python=_python_for(user)).install()
        _chown_tree(home, pwd_uid(user))
        Path("/run/sshd").mkdir(exist_ok=True)
        host_key = (base / "host_ed25519.pub").read_text().split()
        port = free_port()
        known_hosts = base / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
        server = SSHServer(base=base, host="127.0.0.1", port=port, user=user, password=password,
                           home=home, keys=keys, known_hosts=known_hosts,
                           host_public_key=f"{host_key[0]} {host_key[1]}", pool=pool,
                           config=base / "sshd_config").start()
        yield server
    finally:
        if server is not None:
            for variant in server.variants:
                variant.drop()
            server.drop()
        if pool is not None:
            pool.shutdown()
        with contextlib.suppress(KeyError):
            for pid in _user_processes(pwd_uid(user)[0]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        subprocess.run(["userdel", user], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _python_for(user):
    """An interpreter the SSH user may run (the test venv's may live under /root)."""
    import sys

    for candidate in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run([RUNUSER, "-u", user, "--", candidate, "-c", "import sqlite3"],
                               capture_output=True)
        if probe.returncode == 0:
            return candidate
    pytest.fail(f"No Python interpreter is usable by the SSH test user {user}.")


def pwd_uid(user):
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path, ids):
    uid, gid = ids
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid)
