"""``TethysAppBase``: what a Tethys app class provides to the Jobs API.

An app declares itself as in Tethys::

    class MyApp(TethysAppBase):
        name = "My App"
        package = "my_app"

        def scheduler_settings(self):
            return (
                SchedulerSetting(name="dask_primary", description="...",
                                 engine=SchedulerSetting.DASK, required=True),
            )

and uses ``MyApp.get_job_manager()`` and ``MyApp.get_scheduler("dask_primary")``.
App classes are found in the ``app`` modules of ``INSTALLED_APPS`` (and in
``TETHYS_COMPUTE["APPS"]``); their declared settings are synced to the database after
``migrate``, on the first ``get_scheduler()``, and by ``sync_scheduler_settings()``;
``get_job_manager()`` never touches the database (it may run at import time).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils.module_loading import autodiscover_modules, import_string

from .exceptions import TethysAppSettingDoesNotExist

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from .job_manager import JobManager
    from .models import Scheduler, SchedulerSetting

logger = logging.getLogger("tethys_compute.apps")

_registry: dict[str, type[TethysAppBase]] = {}
_synced: set[type] = set()
_lock = threading.Lock()
_searched: set[tuple] = set()  # see registered_apps()


class TethysAppBase:
    """Base class of a Tethys app.

    :cvar name: human-readable name (``str``).
    :cvar package: the app's package name; jobs are labelled with it (``str``). Defaults
        to the name of the package holding the class's module.
    :cvar notify: the notifications of the app's jobs when ``create_job`` is given no
        ``notify`` (``None``: none; see :mod:`tethys_compute.notifications.spec`).
    """

    name = ""
    package = ""
    description = ""
    index = ""
    icon = ""
    root_url = ""
    color = ""
    tags = ""
    notify: Any = None
    #: Most active jobs of this app one user may have at once (``int``); ``None``: the
    #: ``MAX_ACTIVE_JOBS_PER_USER`` setting, counted over all apps. See :doc:`fair_share`.
    max_active_jobs_per_user: int | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("package"):
            module = cls.__module__.rsplit(".", 1)
            cls.package = module[0].rsplit(".", 1)[-1] if len(module) == 2 else module[0]
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__
        _registry[cls.package] = cls

    def __str__(self) -> str:
        return self.name

    def scheduler_settings(self) -> Iterable[SchedulerSetting]:
        """Override to declare the schedulers the app needs: an iterable of unsaved
        :class:`~tethys_compute.models.SchedulerSetting`."""
        return ()

    @classmethod
    def get_job_manager(cls) -> JobManager:
        """Return a :class:`~tethys_compute.job_manager.JobManager` for this app.

        Touches no database, so it may be called while a module is imported (the Dask
        tutorial's controllers make their manager during URL loading, before ``migrate``
        may have run). The app's scheduler settings are synced after ``migrate`` and on
        first use of :meth:`get_scheduler`.
        """
        from .job_manager import JobManager

        return JobManager(cls())

    @classmethod
    def get_scheduler(cls, name: str) -> Scheduler:
        """Return the scheduler assigned to the app's setting ``name``, as its subclass.

        :raises TethysAppSettingDoesNotExist: if the app declares no such setting.
        :raises TethysAppSettingNotAssigned: if no scheduler is assigned to it.
        """
        from .models import SchedulerSetting

        cls._ensure_synced()
        setting = SchedulerSetting.objects.filter(app_package=cls.package, name=name).first()
        if setting is None:
            # The rows may have been removed behind our back (a flushed database): sync
            # once more before giving up.
            cls.sync_scheduler_settings()
            setting = SchedulerSetting.objects.filter(app_package=cls.package, name=name).first()
        if setting is None:
            raise TethysAppSettingDoesNotExist("SchedulerSetting", name, cls.name)
        return setting.get_value()

    @classmethod
    def sync_scheduler_settings(cls) -> QuerySet[SchedulerSetting]:
        """Make the database hold exactly the settings the app declares: add new ones,
        update descriptions, engines and ``required`` of kept ones (keeping their
        assigned schedulers), and remove the ones no longer declared.

        :returns: the app's ``SchedulerSetting`` rows.
        :raises ValueError: if the app declares two settings with one name, or an
            unknown engine.
        """
        from .models import SchedulerSetting

        declared = list(cls().scheduler_settings() or ())
        names = [setting.name for setting in declared]
        duplicates = {name for name in names if names.count(name) > 1}
        if duplicates:
            raise ValueError(
                f"App {cls.package} declares scheduler settings twice: {sorted(duplicates)}"
            )
        engines = {code for code, _ in SchedulerSetting.ENGINE_CHOICES}
        with transaction.atomic():
            rows = SchedulerSetting.objects.filter(app_package=cls.package)
            existing = {setting.name: setting for setting in rows}
            for setting in declared:
                if setting.engine not in engines:
                    raise ValueError(
                        f'Scheduler setting "{setting.name}" of app {cls.package} has engine '
                        f'"{setting.engine}"; use SchedulerSetting.HTCONDOR or '
                        "SchedulerSetting.DASK."
                    )
                row = existing.pop(setting.name, None)
                if row is None:
                    SchedulerSetting.objects.create(
                        app_package=cls.package,
                        name=setting.name,
                        description=setting.description,
                        engine=setting.engine,
                        required=setting.required,
                    )
                elif (row.description, row.engine, row.required) != (
                    setting.description, setting.engine, setting.required
                ):
                    row.description = setting.description
                    row.required = setting.required
                    if row.engine != setting.engine:
                        row.engine = setting.engine
                        row.scheduler_service = None
                    row.save()
            if existing:
                SchedulerSetting.objects.filter(pk__in=[s.pk for s in existing.values()]).delete()
        with _lock:
            _synced.add(cls)
        return SchedulerSetting.objects.filter(app_package=cls.package)

    @classmethod
    def _ensure_synced(cls) -> None:
        if cls not in _synced:
            cls.sync_scheduler_settings()


def registered_apps() -> dict[str, type[TethysAppBase]]:
    """Return ``{package: app class}`` of every known app, importing the ``app`` modules
    of ``INSTALLED_APPS`` and the classes named in ``TETHYS_COMPUTE["APPS"]``."""
    from django.apps import apps

    from .conf import get_config

    # Searched once per set of installed apps and of configured classes (the admin's app
    # filter asks on every changelist request; each search looks in every app's
    # directory). An app class defined later registers itself (``_registry``).
    searched = (tuple(config.name for config in apps.get_app_configs()),
                tuple(get_config()["APPS"]))
    if searched not in _searched:
        autodiscover_modules("app")
        for path in searched[1]:
            import_string(path)
        with _lock:
            _searched.add(searched)
    return dict(_registry)


def sync_all_scheduler_settings(**kwargs: Any) -> None:
    """``post_migrate`` receiver: sync the settings of every registered app."""
    for app in registered_apps().values():
        try:
            app.sync_scheduler_settings()
        except Exception:  # noqa: BLE001 - one broken app must not break migrate
            logger.exception("Syncing scheduler settings of %s failed", app.package)


def forget_synced() -> None:
    """Make every app sync again on next use (tests that flush the database)."""
    with _lock:
        _synced.clear()
