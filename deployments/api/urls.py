from rest_framework.routers import SimpleRouter

from .views import RolloutViewSet, ServiceViewSet

router = SimpleRouter()
router.register("services", ServiceViewSet, basename="service")
router.register("rollouts", RolloutViewSet, basename="rollout")

urlpatterns = router.urls
