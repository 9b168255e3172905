from rest_framework.routers import SimpleRouter

from .views import HostViewSet

router = SimpleRouter()
router.register("hosts", HostViewSet, basename="host")

urlpatterns = router.urls
