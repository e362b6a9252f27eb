"""The HTCondor engine: the only code that talks to HTCondor.

:func:`engine_for` picks how a scheduler is reached:

* no scheduler, or a ``CondorScheduler`` that is local (host ``localhost``/``127.0.0.1``
  and no username): this machine's command-line tools, or the ``htcondor2`` bindings when
  ``TETHYS_COMPUTE["CONDOR_LOCAL_TRANSPORT"]`` is ``"htcondor2"``;
* any other ``CondorScheduler``: its command-line tools over SSH.

Imported lazily by the models: the app runs without condorpy, paramiko and htcondor.
"""

from __future__ import annotations

from django.utils.module_loading import import_string

from ...conf import get_config
from .engine import HOLD, RELEASE, REMOVE, CliEngine, CondorEngine
from .errors import CondorError, NotInQueue
from .transport import LocalTransport

__all__ = [
    "HOLD", "RELEASE", "REMOVE", "CondorEngine", "CondorError", "NotInQueue", "engine_for",
    "ssh_settings",
]

LOCAL_TRANSPORTS = ("cli", "htcondor2")


def ssh_settings(scheduler):
    """The SSH login of a ``CondorScheduler`` plus the project's SSH policy settings."""
    from .ssh import SSHSettings

    config = get_config()
    return SSHSettings(
        host=scheduler.host,
        port=int(scheduler.port or 22),
        username=scheduler.username or "",
        password=scheduler.password or None,
        key_path=scheduler.private_key_path or None,
        key_passphrase=scheduler.private_key_pass or None,
        known_hosts=config["CONDOR_SSH_KNOWN_HOSTS"],
        host_key_policy=config["CONDOR_SSH_HOST_KEY_POLICY"],
        connect_timeout=float(config["CONDOR_SSH_TIMEOUT"]),
        command_timeout=float(config["CONDOR_COMMAND_TIMEOUT"]),
    )


def engine_for(scheduler=None) -> CondorEngine:
    """The engine for a ``CondorScheduler`` (or ``None``: this machine).

    :raises CondorError: if ``CONDOR_LOCAL_TRANSPORT`` is not ``"cli"`` or ``"htcondor2"``.
    """
    config = get_config()
    if scheduler is None or scheduler.is_local:
        kind = config["CONDOR_LOCAL_TRANSPORT"]
        if kind == "htcondor2":
            from .bindings import BindingsEngine

            factory = config["CONDOR_SCHEDD_FACTORY"]
            if isinstance(factory, str):
                factory = import_string(factory)
            return BindingsEngine(factory)
        if kind != "cli":
            raise CondorError(
                f'TETHYS_COMPUTE["CONDOR_LOCAL_TRANSPORT"] is {kind!r}; use "cli" or "htcondor2".'
            )
        return CliEngine(LocalTransport(timeout=float(config["CONDOR_COMMAND_TIMEOUT"])))
    from .ssh import SSHTransport

    return CliEngine(SSHTransport(ssh_settings(scheduler)))
