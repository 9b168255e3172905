from django.urls import path

from .views import (
    containers,
    deployments,
    fleet,
    hosts,
    images,
    networks,
    operations,
    publishing,
    registries,
    volumes,
)

app_name = "frontend"

urlpatterns = [
    path("", fleet.dashboard, name="dashboard"),
    # hosts
    path("hosts/add/", hosts.host_add, name="host-add"),
    path("hosts/<int:pk>/", hosts.host_detail, name="host"),
    path("hosts/<int:pk>/edit/", hosts.host_edit, name="host-edit"),
    path("hosts/<int:pk>/refresh/", hosts.host_refresh, name="host-refresh"),
    path("hosts/<int:pk>/approve-key/", hosts.host_approve_key, name="host-approve-key"),
    path("hosts/<int:pk>/remove/", hosts.host_remove, name="host-remove"),
    path("hosts/<int:pk>/disk/measure/", hosts.host_measure_disk, name="host-disk-measure"),
    # disk usage across the fleet
    path("disk/", hosts.disk_usage, name="disk"),
    path("disk/measure/", hosts.disk_measure, name="disk-measure"),
    # containers
    path("containers/", containers.container_list, name="containers"),
    path("containers/bulk/", containers.container_bulk, name="containers-bulk"),
    path("containers/<int:pk>/", containers.container_detail, name="container"),
    path("containers/<int:pk>/stats/", containers.container_stats, name="container-stats"),
    path("containers/<int:pk>/logs/", containers.container_logs_follow, name="container-logs"),
    path("containers/<int:pk>/diff/", containers.container_diff, name="container-diff"),
    path("containers/<int:pk>/commit/", publishing.container_commit, name="container-commit"),
    path("containers/<int:pk>/<str:verb>/", containers.container_action, name="container-action"),
    # images
    path("images/", images.image_list, name="images"),
    path("images/pull/", images.image_pull, name="image-pull"),
    path("images/prune/", hosts.host_prune, name="image-prune"),
    path("images/<int:pk>/", images.image_detail, name="image"),
    path("images/<int:pk>/layers/", images.image_layers, name="image-layers"),
    path("images/<int:pk>/remove/", images.image_remove, name="image-remove"),
    # registries (the browser)
    path("registries/", registries.registry_list, name="registries"),
    path("registries/<int:pk>/", registries.registry_detail, name="registry"),
    path("registries/<int:pk>/tag/", registries.registry_tag, name="registry-tag"),
    path("images/build/", publishing.image_build, name="image-build"),
    path("images/<int:pk>/publish/", publishing.image_publish, name="image-publish"),
    path("images/<int:pk>/tag/", publishing.image_tag, name="image-tag"),
    path("images/<int:pk>/push/", publishing.image_push, name="image-push"),
    # networks
    path("networks/", networks.network_list, name="networks"),
    path("networks/new/", networks.network_create, name="network-create"),
    path("networks/prune/", networks.network_prune, name="network-prune"),
    path("networks/<int:pk>/remove/", networks.network_remove, name="network-remove"),
    path("networks/<int:pk>/connect/", networks.network_connect, name="network-connect"),
    path("networks/<int:pk>/disconnect/", networks.network_disconnect, name="network-disconnect"),
    # volumes
    path("volumes/", volumes.volume_list, name="volumes"),
    path("volumes/new/", volumes.volume_create, name="volume-create"),
    path("volumes/prune/", volumes.volume_prune, name="volume-prune"),
    path("volumes/measure/", volumes.volume_measure, name="volume-measure"),
    path("volumes/<int:pk>/remove/", volumes.volume_remove, name="volume-remove"),
    # deployments: services
    path("services/", deployments.service_list, name="services"),
    path("services/new/", deployments.service_create, name="service-create"),
    path("services/<int:pk>/", deployments.service_detail, name="service"),
    path("services/<int:pk>/revisions/new/", deployments.revision_create, name="revision-create"),
    path("services/<int:pk>/deploy/", deployments.service_deploy, name="service-deploy"),
    path("services/<int:pk>/retire/", deployments.service_retire, name="service-retire"),
    path("services/<int:pk>/targets/", deployments.service_targets, name="service-targets"),
    path(
        "services/<int:pk>/revisions/<int:number>/archive/",
        deployments.revision_archive,
        name="revision-archive",
    ),
    path(
        "services/<int:pk>/rollback/<int:number>/",
        deployments.service_rollback,
        name="service-rollback",
    ),
    # operations
    path("operations/", operations.operation_list, name="operations"),
    path("operations/<int:pk>/", operations.operation_detail, name="operation"),
    path("operations/<int:pk>/feedback/", operations.operation_feedback, name="operation-feedback"),
    path("operations/<int:pk>/stream/", operations.operation_stream, name="operation-stream"),
    path("operations/<int:pk>/cancel/", operations.operation_cancel, name="operation-cancel"),
]
