"""SSH transport against a real sshd on 127.0.0.1: logins, host keys, commands, files."""

import os
import shlex
import stat
import threading

import paramiko
import pytest

from tethys_compute.engines.condor import ssh
from tethys_compute.engines.condor.ssh import SSHConnectionError, SSHSettings, SSHTransport
from tethys_compute.exceptions import EngineUnavailable


@pytest.fixture(autouse=True)
def _fresh_pool():
    ssh.close_all()
    yield
    ssh.close_all()


def settings_for(server, login="ed25519", **extra):
    values = dict(host=server.host, port=server.port, username=server.user,
                  known_hosts=str(server.known_hosts), connect_timeout=5, command_timeout=20)
    if login == "password":
        values["password"] = server.password
    else:
        path, passphrase = server.keys[login]
        values.update(key_path=str(path), key_passphrase=passphrase)
    values.update(extra)
    return SSHSettings(**values)


@pytest.mark.parametrize("login", ["password", "rsa", "rsa_pass", "ed25519", "ed25519_pass"])
def test_logins(ssh_server, login):
    transport = SSHTransport(settings_for(ssh_server, login))
    result = transport.run(["id", "-un"])
    assert (result.exit_code, result.stdout.strip()) == (0, ssh_server.user)


def test_key_passphrase_problems_are_named(ssh_server):
    path, _ = ssh_server.keys["ed25519_pass"]
    with pytest.raises(SSHConnectionError, match="protected by a passphrase"):
        SSHTransport(settings_for(ssh_server, key_passphrase=None, key_path=str(path))).run(["true"])
    with pytest.raises(SSHConnectionError, match="cannot be read with the given passphrase"):
        SSHTransport(settings_for(ssh_server, "rsa_pass", key_passphrase="wrong")).run(["true"])
    with pytest.raises(SSHConnectionError, match="does not exist"):
        SSHTransport(settings_for(ssh_server, key_path="/nonexistent/key")).run(["true"])


def test_wrong_password_and_key_only_server(ssh_server):
    with pytest.raises(SSHConnectionError, match="refused"):
        SSHTransport(settings_for(ssh_server, "password", password="nope")).run(["true"])
    key_only = ssh_server.variant(password_auth=False)
    with pytest.raises(SSHConnectionError, match="refused"):
        SSHTransport(settings_for(key_only, "password")).run(["true"])
    assert SSHTransport(settings_for(key_only, "ed25519")).run(["true"]).ok


def test_unknown_host_is_refused_by_default_with_a_hint(ssh_server, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(SSHConnectionError, match="is not known: add it to .*ssh-keyscan"):
        SSHTransport(settings_for(ssh_server, known_hosts=str(empty))).run(["true"])


def test_changed_host_key_is_always_refused(ssh_server, tmp_path):
    other = paramiko.Ed25519Key.from_private_key_file(str(ssh_server.keys["ed25519"][0]))
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{ssh_server.port} ssh-ed25519 {other.get_base64()}\n")
    for policy in ("reject", "warn", "auto-add"):
        ssh.close_all()
        with pytest.raises(SSHConnectionError, match="does not match"):
            SSHTransport(settings_for(ssh_server, known_hosts=str(wrong),
                                      host_key_policy=policy)).run(["true"])


def test_warn_and_auto_add_policies(ssh_server, tmp_path, caplog):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with caplog.at_level("WARNING", logger="tethys_compute.condor.ssh"):
        assert SSHTransport(settings_for(ssh_server, known_hosts=str(empty),
                                         host_key_policy="warn")).run(["true"]).ok
    assert "Accepting the unknown SSH host key" in caplog.text
    assert empty.read_text() == ""
    ssh.close_all()
    remembered = tmp_path / "remembered"
    assert SSHTransport(settings_for(ssh_server, known_hosts=str(remembered),
                                     host_key_policy="auto-add")).run(["true"]).ok
    assert ssh_server.host_public_key.split()[1] in remembered.read_text()
    ssh.close_all()
    # Remembered: now verified under the default policy.
    assert SSHTransport(settings_for(ssh_server, known_hosts=str(remembered))).run(["true"]).ok
    with pytest.raises(SSHConnectionError, match="CONDOR_SSH_HOST_KEY_POLICY"):
        SSHTransport(settings_for(ssh_server, host_key_policy="trust-me")).run(["true"])


def test_commands_quote_arguments_keep_streams_apart_and_report_exit_codes(ssh_server):
    transport = SSHTransport(settings_for(ssh_server))
    transport.makedirs("dir with 'quotes'")
    result = transport.run(["sh", "-c", 'pwd; echo "$1" >&2; exit 3', "sh", "a b; $(x)"],
                           cwd="dir with 'quotes'")
    assert result.exit_code == 3
    assert result.stdout.strip().endswith("dir with 'quotes'")
    assert result.stderr == "a b; $(x)\n"
    big = transport.run(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; head -c 300000 /dev/zero >&2"])
    assert len(big.stdout) == 3000000 and len(big.stderr) == 300000
    shell = transport.run("echo $((6*7)) && echo done")
    assert shell.stdout == "42\ndone\n"


def test_command_timeout_is_transient(ssh_server):
    transport = SSHTransport(settings_for(ssh_server, command_timeout=0.5))
    with pytest.raises(EngineUnavailable, match="did not finish within"):
        transport.run(["sleep", "5"])


def test_files_up_down_and_cleanup(ssh_server, tmp_path):
    transport = SSHTransport(settings_for(ssh_server))
    local = tmp_path / "tree"
    (local / "sub").mkdir(parents=True)
    (local / "run.sh").write_text("#!/bin/sh\n")
    (local / "run.sh").chmod(0o750)
    (local / "sub" / "data.txt").write_text("data")
    transport.upload(str(local), "xfer/tree")
    assert set(transport.listdir("xfer/tree")) == {"run.sh", "sub"}
    assert transport.run(["stat", "-c", "%a", "xfer/tree/run.sh"]).stdout.strip() == "750"
    with transport.open("xfer/tree/new.txt", "w") as handle:
        handle.write("remote text\n")
    back = tmp_path / "back"
    transport.download("xfer/tree", str(back))
    assert (back / "sub" / "data.txt").read_text() == "data"
    assert (back / "new.txt").read_text() == "remote text\n"
    assert stat.S_IMODE(os.stat(back / "run.sh").st_mode) == 0o750
    before = os.stat(back / "sub" / "data.txt").st_ino
    transport.download("xfer/tree", str(back))  # unchanged files are skipped
    assert os.stat(back / "sub" / "data.txt").st_ino == before
    assert transport.read_bytes("xfer/tree/new.txt", limit=5) == b"text\n"
    with pytest.raises(FileNotFoundError):
        transport.read_bytes("xfer/missing")
    assert transport.exists("xfer/tree") and not transport.exists("xfer/none")
    transport.remove_tree("xfer")
    assert not transport.exists("xfer")
    for bad in ("", ".", "..", "/", "../x"):
        with pytest.raises(ValueError):
            transport.remove_tree(bad)


def test_one_connection_shared_by_threads_and_reopened_after_a_drop(ssh_server, settings):
    # Reconnect at once after the restart (the failure memory has a test of its own).
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "ENGINE_FAILURE_MEMORY": 0}
    settings = settings_for(ssh_server)
    first, second = SSHTransport(settings), SSHTransport(settings)
    assert first.conn is second.conn
    results, errors = [], []

    def work(n):
        try:
            results.append(first.run(["sh", "-c", f"sleep 0.2; echo {n}"]).stdout.strip())
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and sorted(results) == [str(n) for n in range(8)]
    client = first.conn.get()
    ssh_server.drop()
    try:
        with pytest.raises(EngineUnavailable):
            first.run(["true"])
        with pytest.raises(EngineUnavailable, match="Cannot connect"):
            second.run(["true"])
    finally:
        ssh_server.start()
    assert first.run(["echo", "back"]).stdout == "back\n"
    assert first.conn.get() is not client


def test_password_never_appears_in_the_pool_key(ssh_server):
    settings = settings_for(ssh_server, "password")
    assert settings.password not in repr(settings.pool_key())
    assert shlex.quote(settings.password) not in repr(settings.pool_key())


@pytest.mark.parametrize("kind", ["down", "silent"])
def test_an_unreachable_host_is_bounded_and_remembered(kind, settings):
    """A closed port, or a listener that never sends the SSH banner: the first use fails
    within the connect timeout, the next ones at once (ENGINE_FAILURE_MEMORY)."""
    import time

    from tests.engines.dask.unreachable import SilentScheduler, closed_port_address, timed

    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "ENGINE_FAILURE_MEMORY": 30}
    silent = SilentScheduler()
    try:
        port = silent.port if kind == "silent" else int(closed_port_address().rsplit(":", 1)[1])
        transport = SSHTransport(SSHSettings(host="127.0.0.1", port=port, username="nobody",
                                             password="x", connect_timeout=1))
        first = timed(lambda: transport.run(["true"]), limit=30)
        assert first.finished and isinstance(first.error, SSHConnectionError), first
        assert first.seconds < 1 + 4, first.seconds
        accepted = silent.accepted
        again = timed(lambda: transport.run(["true"]), limit=30)
        assert isinstance(again.error, SSHConnectionError)
        assert "not asked again" in str(again.error)
        assert again.seconds < 0.5, again.seconds
        assert silent.accepted == accepted
        ssh.forget_failure("127.0.0.1", port)
        started = time.monotonic()
        with pytest.raises(SSHConnectionError) as caught:
            transport.run(["true"])
        assert "not asked again" not in str(caught.value)
        assert time.monotonic() - started < 1 + 4
    finally:
        silent.close()
