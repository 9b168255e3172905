from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"

    def ready(self) -> None:
        from hosts.signals import host_refreshed

        from . import services  # registers the rollout action

        host_refreshed.connect(services.on_host_refreshed, dispatch_uid="deployments-converge")
