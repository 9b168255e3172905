from django.urls import path
from rest_framework.routers import SimpleRouter

from .publishing import ContainerCommitView
from .secrets import SecretViewSet
from .views import ContainerViewSet, HostContainersView

router = SimpleRouter()
router.register("containers", ContainerViewSet, basename="container")
router.register("secrets", SecretViewSet, basename="secret")

urlpatterns = [
    path("hosts/<int:host_id>/containers/", HostContainersView.as_view(), name="host-containers"),
    path("containers/<int:pk>/commit/", ContainerCommitView.as_view(), name="container-commit"),
    *router.urls,
]
