"""What a job tells about itself (a mixin of ``TethysJob``): its status as read
(``status``, ``cached_status``, ``is_terminal``...), the refresh interval, custom
statuses, the status report token, the results function, the workspace and progress."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core import signing
from django.utils import timezone

from .. import status as st
from ..conf import get_config
from ..exceptions import JobStateError
from ..functions import function_path, import_function
from .job_status import _short
from .validation import no_nul

logger = logging.getLogger("tethys_compute.jobs")

_CLASS_MAX_AGE = object()


class JobAttributes:
    """The status accessors, tokens, results function, workspace and progress of
    ``TethysJob``."""

    if TYPE_CHECKING:  # provided by TethysJob
        pk: Any
        workspace: str
        _status: str
        _other_status: str | None
        _last_status_update: datetime | None
        _update_status_interval: timedelta
        _process_results_function: str | None
        execute_time: datetime | None
        start_time: datetime | None
        completion_time: datetime | None
        extended_properties: Any
        STATUS_REPORT_SALT: str
        STATUS_REPORT_MAX_AGE: Any
        TERMINAL_STATUSES: Any

        def update_status(self, *args: Any, **kwargs: Any) -> Any: ...
        def _write_fields(self, **values: Any) -> Any: ...

    # --- status constants and helpers --------------------------------------------------
    @classmethod
    def add_custom_pre_running_status(cls, status: str) -> None:
        """Register ``status`` (display text) as pre-running on this class only."""
        st.register_custom_status(cls, status, "pre_running")

    @classmethod
    def add_custom_running_status(cls, status: str) -> None:
        """Register ``status`` (display text) as running (and active) on this class only."""
        st.register_custom_status(cls, status, "running")

    @classmethod
    def add_custom_active_status(cls, status: str) -> None:
        """Register ``status`` (display text) as active on this class only."""
        st.register_custom_status(cls, status, "active")

    @classmethod
    def add_custom_terminal_status(cls, status: str) -> None:
        """Register ``status`` (display text) as terminal on this class only."""
        st.register_custom_status(cls, status, "terminal")

    @property
    def type(self) -> str:
        """The job's class name, e.g. ``"CondorWorkflow"``."""
        return type(self).__name__

    #: The ``TETHYS_COMPUTE`` key giving this class's ``update_status_interval``.
    UPDATE_STATUS_INTERVAL_SETTING = "UPDATE_STATUS_INTERVAL"

    @property
    def update_status_interval(self) -> timedelta:
        """Minimum ``timedelta`` between two engine queries for this job: the setting named
        by ``UPDATE_STATUS_INTERVAL_SETTING`` (``TETHYS_COMPUTE["UPDATE_STATUS_INTERVAL"]``,
        10 s, for most classes), unless set on the instance. Settable."""
        interval = self.__dict__.get("_update_status_interval")
        if interval is None:
            interval = timedelta(seconds=get_config()[self.UPDATE_STATUS_INTERVAL_SETTING])
        return interval

    @update_status_interval.setter
    def update_status_interval(self, value: timedelta | float) -> None:
        if not isinstance(value, timedelta):
            value = timedelta(seconds=float(value))
        self._update_status_interval = value

    @property
    def last_status_update(self) -> datetime:
        """When the status was last checked or changed: ``_last_status_update``, else
        ``execute_time``, else one interval ago (Tethys's rule)."""
        return (
            self._last_status_update
            or self.execute_time
            or timezone.now() - self.update_status_interval
        )

    def is_time_to_update(self) -> bool:
        """True when the cached status is older than ``update_status_interval``."""
        return timezone.now() - self.last_status_update > self.update_status_interval

    @property
    def other_status(self) -> str | None:
        """The custom text of an ``OTH`` status, or ``None``."""
        if self._status != st.OTHER:
            return None
        # Rows written by Tethys itself keep the text in extended_properties.
        return self._other_status or (self.extended_properties or {}).get(st.OTHER_STATUS_KEY)

    @property
    def cached_status(self) -> str:
        """Display name of the stored status; never contacts an engine."""
        if self._status == st.OTHER:
            return self.other_status or "Other"
        return st.STATUS_DISPLAY.get(self._status, self._status)

    @property
    def is_terminal(self) -> bool:
        """True when the job has ended (custom statuses by this class's registry)."""
        if self._status != st.OTHER:
            return self._status in st.TERMINAL_STATUS_CODES
        return self.other_status in type(self).TERMINAL_STATUSES

    @property
    def post_processing_incomplete(self) -> bool:
        """True when the job reached a results status but its results are not processed."""
        return self._status in st.RESULTS_STATUS_CODES and self.completion_time is None

    @property
    def status(self) -> str:
        """The job's status (display name), refreshed from the engine when stale."""
        self.update_status()
        return self.cached_status

    @status.setter
    def status(self, value: str) -> None:
        self.update_status(status=value)

    @property
    def run_time(self) -> timedelta | str:
        """``timedelta`` from start (or execute) to completion (or now), or ``""``."""
        start = self.start_time or self.execute_time
        if not start:
            return ""
        end = self.completion_time or timezone.now()
        return end - start

    # --- tokens --------------------------------------------------------------------------
    @property
    def status_report_token(self) -> str:
        """Signed token that lets a compute node report this job's status (and no other)."""
        if self.pk is None:
            raise JobStateError("A job has no status report token until it is saved.")
        return signing.dumps(str(self.pk), salt=self.STATUS_REPORT_SALT)

    @classmethod
    def id_from_status_report_token(cls, token: object,
                                    max_age: Any = _CLASS_MAX_AGE) -> str | None:
        """Return the job id (a ``str``) a token was made for, or ``None`` when the token
        is not a string, is forged, or is older than the class's
        ``STATUS_REPORT_MAX_AGE``.

        :param max_age: another age limit (``timedelta`` or seconds); ``None`` checks
            the signature only.
        """
        if not isinstance(token, str) or not token:
            return None
        if max_age is _CLASS_MAX_AGE:
            max_age = cls.STATUS_REPORT_MAX_AGE
        try:
            value = signing.loads(token, salt=cls.STATUS_REPORT_SALT, max_age=max_age)
        except (signing.BadSignature, signing.SignatureExpired, ValueError):
            return None
        return value if isinstance(value, str) else None

    # --- results function ----------------------------------------------------------------
    @property
    def process_results_function(self) -> Callable[..., Any] | None:
        """The function applied to a job's results when it completes, or ``None``.

        Stored as a dotted path. A path that does not resolve gives ``None`` (logged).
        """
        path = self._process_results_function
        if not path:
            return None
        return _resolve_function(path)

    @process_results_function.setter
    def process_results_function(self, function: Callable[..., Any] | str | None) -> None:
        self._process_results_function = _function_path(function)

    # --- workspace -----------------------------------------------------------------------
    def ensure_workspace(self) -> Path:
        """Create the job's directory if it does not exist; return it as a ``Path``."""
        from pathlib import Path

        if not self.workspace:
            raise JobStateError(f"Job {self.pk} has no workspace directory set.")
        path = Path(self.workspace)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def set_progress(self, percent: float, message: str | None = None) -> None:
        """Record progress: ``percent`` 0-100 (int or float) and an optional message.

        :raises ValueError: if ``percent`` is not a number between 0 and 100.
        """
        self._write_fields(**self.progress_fields(percent, message))

    @staticmethod
    def progress_fields(percent: float, message: str | None = None) -> dict[str, Any]:
        """The row values :meth:`set_progress` writes: ``{"progress": int, ...}`` (and
        ``"progress_message"`` when ``message`` is given, cut to 1024 characters).

        :raises ValueError: if ``percent`` is not a number between 0 and 100.
        """
        try:
            value = float(percent)
        except (TypeError, ValueError):
            raise ValueError(f"Progress must be a number from 0 to 100, not {percent!r}.") from None
        if not 0 <= value <= 100:
            raise ValueError(f"Progress must be a number from 0 to 100, not {percent!r}.")
        values: dict[str, Any] = {"progress": round(value),
                                  "progress_reported_at": timezone.now()}
        if message is not None:
            values["progress_message"] = no_nul(_short(message, 1024))
        return values



def _function_path(function):
    """Dotted path to store for a results function (string, or module-level function)."""
    if function is None or function == "":
        return None
    if isinstance(function, str):
        if "." not in function or not all(part.isidentifier() for part in function.split(".")):
            raise ValueError(
                f'"{function}" is not a dotted path to a function '
                '(e.g. "my_app.results.summarize").'
            )
        return function
    return function_path(function, "process_results_function")


def _resolve_function(path):
    function = import_function(path)
    if function is None:
        logger.warning("process_results_function %r cannot be resolved.", path)
    return function
