from django.urls import path
from rest_framework.routers import SimpleRouter

from .publishing import HostImageBuildView, HostImagePushView, HostImageTagView
from .views import (
    FleetImageViewSet,
    HostImagePruneView,
    HostImagePullView,
    HostImageViewSet,
    RegistryCredentialViewSet,
)

router = SimpleRouter()
router.register("images", FleetImageViewSet, basename="image")
router.register("host-images", HostImageViewSet, basename="host-image")
router.register("registry-credentials", RegistryCredentialViewSet, basename="registrycredential")

urlpatterns = [
    path("hosts/<int:host_id>/images/pull/", HostImagePullView.as_view(), name="host-image-pull"),
    path(
        "hosts/<int:host_id>/images/prune/", HostImagePruneView.as_view(), name="host-image-prune"
    ),
    path(
        "hosts/<int:host_id>/images/build/", HostImageBuildView.as_view(), name="host-image-build"
    ),
    path("host-images/<int:pk>/tag/", HostImageTagView.as_view(), name="host-image-tag"),
    path("host-images/<int:pk>/push/", HostImagePushView.as_view(), name="host-image-push"),
    *router.urls,
]
