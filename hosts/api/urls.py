from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    FleetDiskHostsView,
    FleetDiskMeasureView,
    FleetDiskView,
    HostGroupViewSet,
    HostViewSet,
)

router = SimpleRouter()
router.register("hosts", HostViewSet, basename="host")
router.register("host-groups", HostGroupViewSet, basename="hostgroup")

urlpatterns = [
    path("disk/", FleetDiskView.as_view(), name="fleet-disk"),
    path("disk/hosts/", FleetDiskHostsView.as_view(), name="fleet-disk-hosts"),
    path("disk/measure/", FleetDiskMeasureView.as_view(), name="fleet-disk-measure"),
    *router.urls,
]
