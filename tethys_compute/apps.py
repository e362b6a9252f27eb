from django.apps import AppConfig


class TethysComputeConfig(AppConfig):
    """App configuration: label ``tethys_compute`` and 64-bit ids, as Tethys's migrations use."""

    name = "tethys_compute"
    label = "tethys_compute"
    verbose_name = "Tethys Compute"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import checks, receivers  # noqa: F401  (registers checks and signal receivers)
        from .app_base import sync_all_scheduler_settings
        from .notifications import checks as notify_checks  # noqa: F401  (E020)
        from .notifications import events  # noqa: F401  (notification receivers)

        post_migrate.connect(
            sync_all_scheduler_settings, sender=self, dispatch_uid="tethys_compute.sync_settings"
        )
