"""Where HTCondor commands run and job files live: this machine or a submit host over SSH.

A transport runs commands in a given directory (never by changing the process's working
directory) and reads and writes files. :class:`LocalTransport` is this machine; the SSH
transport (:mod:`.ssh`) is a remote submit host. Both are safe to use from many threads
at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ...exceptions import EngineUnavailable
from ...log_files import listdir_within, open_within

#: Logs larger than this are read from their end (bytes).
MAX_READ_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class CommandResult:
    """What a command printed (``stdout``, ``stderr``, text) and its exit status."""

    stdout: str
    stderr: str
    exit_code: int

    @property
    def ok(self):
        return self.exit_code == 0


class Transport:
    """Interface of a transport. Paths are ``str``; relative ones start at the login
    directory (SSH) or are taken as given (local)."""

    remote = False

    def describe(self) -> str:
        raise NotImplementedError

    def run(self, command, cwd=None, timeout=None) -> CommandResult:
        """Run ``command`` (a list of arguments, or one shell string) in ``cwd``.

        :raises EngineUnavailable: when the command cannot be started or times out, or the
            host cannot be reached.
        """
        raise NotImplementedError

    def makedirs(self, path):
        raise NotImplementedError

    def open(self, path, mode="r"):
        raise NotImplementedError

    def write_text(self, path, text):
        with self.open(path, "w") as handle:
            handle.write(text)

    def read_bytes(self, path, limit=MAX_READ_BYTES) -> bytes:
        """The file's content (its last ``limit`` bytes). :raises FileNotFoundError:"""
        raise NotImplementedError

    def open_within(self, base, relative):
        """Open ``relative`` (to the directory ``base``) for reading, in binary mode, if
        it lies inside ``base`` once every symlink is resolved (a job's logs).

        :returns: ``(file object, size in bytes)``.
        :raises OutsideDirectory: if the path leads outside ``base``.
        :raises FileNotFoundError: if it does not exist.
        :raises IsADirectoryError: if it is not a regular file.
        """
        raise NotImplementedError

    def listdir_within(self, base, relative) -> list[str]:
        """Names in the directory ``relative`` (to ``base``), if it lies inside ``base``
        once every symlink is resolved.

        :raises OutsideDirectory: if the directory leads outside ``base``.
        :raises FileNotFoundError: if it does not exist.
        """
        raise NotImplementedError

    def exists(self, path) -> bool:
        raise NotImplementedError

    def listdir(self, path) -> list[str]:
        """Names in a directory. :raises FileNotFoundError:"""
        raise NotImplementedError

    def upload(self, local_path, path):
        """Copy a local file or directory tree to ``path`` (modes kept)."""
        raise NotImplementedError

    def download(self, path, local_path):
        """Copy a file or directory tree to ``local_path`` (files whose size and time
        already match are skipped)."""
        raise NotImplementedError

    def remove_tree(self, path):
        raise NotImplementedError


class LocalTransport(Transport):
    """Commands and files on this machine (HTCondor's tools on ``PATH``)."""

    def __init__(self, timeout=60):
        self.timeout = timeout

    def describe(self):
        return "this machine"

    def run(self, command, cwd=None, timeout=None):
        shell = isinstance(command, str)
        name = command.split()[0] if shell else command[0]
        try:
            done = subprocess.run(
                command, cwd=cwd, shell=shell, capture_output=True, text=True,
                timeout=timeout or self.timeout, errors="replace",
            )
        except FileNotFoundError as exc:
            if cwd and not os.path.isdir(cwd):
                raise EngineUnavailable(f"Directory {cwd} does not exist.") from exc
            raise EngineUnavailable(
                f"HTCondor's {name} was not found on this machine's PATH; install HTCondor's "
                "tools or configure a remote scheduler."
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise EngineUnavailable(
                f"{name} did not answer within {timeout or self.timeout} seconds."
            ) from exc
        except OSError as exc:
            raise EngineUnavailable(f"Could not run {name}: {exc}") from exc
        return CommandResult(done.stdout, done.stderr, done.returncode)

    def makedirs(self, path):
        os.makedirs(path, exist_ok=True)

    def open(self, path, mode="r"):
        return open(path, mode)  # noqa: SIM115 - the caller closes it

    def read_bytes(self, path, limit=MAX_READ_BYTES):
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                handle.seek(size - limit)
            return handle.read()

    def open_within(self, base, relative):
        return open_within(base, relative)

    def listdir_within(self, base, relative):
        return listdir_within(base, relative)

    def exists(self, path):
        return os.path.exists(path)

    def listdir(self, path):
        return os.listdir(path)

    def upload(self, local_path, path):
        self.download(local_path, path)

    def download(self, path, local_path):
        source, target = Path(path), Path(local_path)
        if source.resolve() == target.resolve():
            return
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)

    def remove_tree(self, path):
        shutil.rmtree(path, ignore_errors=True)
