from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"

    def ready(self) -> None:
        from hosts.signals import host_refreshed
        from operations.signals import operation_finished

        from . import services  # registers the rollout actions

        host_refreshed.connect(services.on_host_refreshed, dispatch_uid="deployments-converge")
        operation_finished.connect(
            services.on_operation_finished, dispatch_uid="deployments-rollout-follows-operation"
        )
