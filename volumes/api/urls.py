from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import HostVolumeMeasureView, HostVolumePruneView, HostVolumesView, VolumeViewSet

router = SimpleRouter()
router.register("volumes", VolumeViewSet, basename="volume")

urlpatterns = [
    path("hosts/<int:host_id>/volumes/", HostVolumesView.as_view(), name="host-volumes"),
    path(
        "hosts/<int:host_id>/volumes/prune/",
        HostVolumePruneView.as_view(),
        name="host-volume-prune",
    ),
    path(
        "hosts/<int:host_id>/volumes/measure/",
        HostVolumeMeasureView.as_view(),
        name="host-volume-measure",
    ),
    *router.urls,
]
