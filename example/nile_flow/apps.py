from django.apps import AppConfig


class NileFlowConfig(AppConfig):
    name = "example.nile_flow"
    label = "nile_flow"
    verbose_name = "Nile Flow"
