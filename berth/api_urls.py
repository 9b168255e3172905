"""The /api/v1/ router: each app registers its viewsets here."""

from rest_framework.routers import DefaultRouter

from hosts.api.views import HostViewSet
from operations.api.views import OperationViewSet

router = DefaultRouter()
router.register("hosts", HostViewSet, basename="host")
router.register("operations", OperationViewSet, basename="operation")

urlpatterns = router.urls
