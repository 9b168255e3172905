from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import HostNetworkPruneView, HostNetworksView, NetworkViewSet

router = SimpleRouter()
router.register("networks", NetworkViewSet, basename="network")

urlpatterns = [
    path("hosts/<int:host_id>/networks/", HostNetworksView.as_view(), name="host-networks"),
    path(
        "hosts/<int:host_id>/networks/prune/",
        HostNetworkPruneView.as_view(),
        name="host-network-prune",
    ),
    *router.urls,
]
