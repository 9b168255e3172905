from rest_framework.routers import SimpleRouter

from .views import HostGroupViewSet, HostViewSet

router = SimpleRouter()
router.register("hosts", HostViewSet, basename="host")
router.register("host-groups", HostGroupViewSet, basename="hostgroup")

urlpatterns = router.urls
