from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"

    def ready(self) -> None:
        from hosts.signals import host_refreshed
        from operations.signals import operation_finished

        # scoping registers the app's scope rules; services its rollout actions.
        from . import hooks, publishing, scoping, services  # noqa: F401

        hooks.register()
        publishing.register()
        host_refreshed.connect(services.on_host_refreshed, dispatch_uid="deployments-converge")
        operation_finished.connect(
            services.on_operation_finished, dispatch_uid="deployments-rollout-follows-operation"
        )
