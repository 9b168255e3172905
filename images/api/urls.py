from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from .publishing import HostImageBuildView, HostImagePushView, HostImageTagView
from .views import (
    FleetImageViewSet,
    HostImagePruneView,
    HostImagePullView,
    HostImageViewSet,
    RegistryCredentialViewSet,
    RegistryRepositoriesView,
    RegistryTagsView,
    RegistryTagView,
)

# A repository name may hold slashes (demo/web), a tag none. Both are matched loosely
# here and checked by the service, so a malformed one is a 400 naming it, not a 404.
_REGISTRY = r"^registries/(?P<pk>[0-9]+)/repositories/"
_REPOSITORY = r"(?P<repository>.+)"
_TAG = r"(?P<tag>[^/]+)"

router = SimpleRouter()
router.register("images", FleetImageViewSet, basename="image")
router.register("host-images", HostImageViewSet, basename="host-image")
router.register("registry-credentials", RegistryCredentialViewSet, basename="registrycredential")

urlpatterns = [
    path("hosts/<int:host_id>/images/pull/", HostImagePullView.as_view(), name="host-image-pull"),
    path(
        "hosts/<int:host_id>/images/prune/", HostImagePruneView.as_view(), name="host-image-prune"
    ),
    re_path(
        rf"{_REGISTRY}$",
        RegistryRepositoriesView.as_view(),
        name="registry-repositories",
    ),
    re_path(
        rf"{_REGISTRY}{_REPOSITORY}/tags/$",
        RegistryTagsView.as_view(),
        name="registry-tags",
    ),
    re_path(
        rf"{_REGISTRY}{_REPOSITORY}/tags/{_TAG}/$",
        RegistryTagView.as_view(),
        name="registry-tag",
    ),
    path(
        "hosts/<int:host_id>/images/build/", HostImageBuildView.as_view(), name="host-image-build"
    ),
    path("host-images/<int:pk>/tag/", HostImageTagView.as_view(), name="host-image-tag"),
    path("host-images/<int:pk>/push/", HostImagePushView.as_view(), name="host-image-push"),
    *router.urls,
]
