"""System checks (``manage.py check``). Ids are stable and listed in ``docs/checks.rst``.

* ``tethys_compute.E001``: ``TETHYS_COMPUTE`` is not a dict.
* ``tethys_compute.W002``: ``TETHYS_COMPUTE`` has a key tethys_compute does not know.
* ``tethys_compute.E003``: an engine listed in ``TETHYS_COMPUTE["ENGINES"]`` has its
  Python package missing.
* ``tethys_compute.E004``: a ``TETHYS_COMPUTE`` time setting is not a positive number,
  or a count setting not a positive whole number.
* ``tethys_compute.E005``: ``TETHYS_COMPUTE["ENGINES"]`` names an unknown engine.
"""

from importlib.util import find_spec

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from .conf import DEFAULTS, get_config

ENGINE_PACKAGES = {
    "condor": ("condorpy", "paramiko"),
    "htcondor": ("condorpy", "paramiko"),
    "dask": ("dask", "distributed"),
}
TIME_SETTINGS = (
    "UPDATE_STATUS_INTERVAL",
    "STATUS_REPORT_MAX_AGE",
    "RESULTS_LEASE",
    "CALLBACK_REFRESH_TIMEOUT",
    "CALLBACK_MAX_DELAY",
    "MONITOR_INTERVAL",
    "MONITOR_LEASE",
    "LOST_JOB_GRACE",
)
COUNT_SETTINGS = ("CALLBACK_REFRESH_WORKERS", "MONITOR_BATCH_SIZE")


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    raw = getattr(settings, "TETHYS_COMPUTE", None)
    if raw is not None and not isinstance(raw, dict):
        return [
            Error(
                "TETHYS_COMPUTE must be a dict.",
                hint=f"It is a {type(raw).__name__}; see docs/settings.rst.",
                id="tethys_compute.E001",
            )
        ]
    messages = []
    for key in sorted(set(raw or {}) - set(DEFAULTS)):
        messages.append(
            Warning(
                f'TETHYS_COMPUTE has an unknown key "{key}".',
                hint="Check its spelling against docs/settings.rst.",
                id="tethys_compute.W002",
            )
        )
    config = get_config()
    for key in TIME_SETTINGS:
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            messages.append(
                Error(
                    f'TETHYS_COMPUTE["{key}"] must be a positive number of seconds, not {value!r}.',
                    id="tethys_compute.E004",
                )
            )
    for key in COUNT_SETTINGS:
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            messages.append(
                Error(
                    f'TETHYS_COMPUTE["{key}"] must be a positive whole number, not {value!r}.',
                    id="tethys_compute.E004",
                )
            )
    for engine in config.get("ENGINES") or ():
        packages = ENGINE_PACKAGES.get(str(engine).lower())
        if packages is None:
            messages.append(
                Error(
                    f'TETHYS_COMPUTE["ENGINES"] names an unknown engine "{engine}".',
                    hint='Use "condor" or "dask".',
                    id="tethys_compute.E005",
                )
            )
            continue
        missing = [name for name in packages if find_spec(name) is None]
        if missing:
            extra = "condor" if "condorpy" in packages else "dask"
            messages.append(
                Error(
                    f'The "{engine}" engine is configured but {", ".join(missing)} '
                    "is not installed.",
                    hint=f"pip install 'tethys-compute[{extra}]'",
                    id="tethys_compute.E003",
                )
            )
    return messages
