"""Tethys's ``tethys_sdk.app_settings`` names used by the Jobs API."""


def __getattr__(name):
    if name == "SchedulerSetting":
        from .models import SchedulerSetting

        return SchedulerSetting
    raise AttributeError(name)


__all__ = ["SchedulerSetting"]  # noqa: F822 - provided lazily by __getattr__
