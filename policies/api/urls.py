from rest_framework.routers import SimpleRouter

from .views import ContainerPolicyViewSet

router = SimpleRouter()
router.register("container-policies", ContainerPolicyViewSet, basename="containerpolicy")

urlpatterns = router.urls
