"""Users and API tokens.

Users: admins who are not limited to host groups. Tokens: an admin issues them (the
secret is in the 201 answer only); everyone lists and revokes their own, and an
unscoped admin everyone's.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.roles import Role, role_of, scope_of
from accounts import services
from accounts.models import ApiToken
from hosts.models import HostGroup

from .serializers import ApiTokenCreatedSerializer, ApiTokenSerializer, MeSerializer, UserSerializer


class UserViewSet(viewsets.ModelViewSet):
    """Logins, with their role and host-group scope (admins only)."""

    queryset = User.objects.select_related("berth_profile").prefetch_related(
        "berth_profile__host_groups"
    )
    serializer_class = UserSerializer
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    unscoped_only = True
    filterset_fields = ["username", "is_active"]
    ordering_fields = ["username", "date_joined", "last_login"]

    def perform_destroy(self, instance: User) -> None:
        """Deactivate rather than delete, so the audit trail keeps its actor."""
        services.deactivate_user(instance, actor=self.request.user)


class ApiTokenViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """API tokens. Create (admin) answers the secret once; list and revoke your own."""

    serializer_class = ApiTokenSerializer
    write_role = Role.ADMIN
    action_roles = {"revoke": Role.VIEWER}
    filterset_fields = ["user", "role"]
    ordering_fields = ["created_at", "last_used_at", "expires_at", "name"]

    def get_queryset(self) -> QuerySet[ApiToken]:
        tokens = ApiToken.objects.select_related("user").prefetch_related("host_groups")
        user = self.request.user
        if role_of(user) == Role.ADMIN and scope_of(user) is None:
            return tokens
        return tokens.filter(user_id=user.pk or 0)

    @extend_schema(request=ApiTokenSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        """Issue a token. The answer holds the secret (``token``): it is shown only once."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = serializer.save()
        data = ApiTokenCreatedSerializer(token, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ApiTokenSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Refuse the token from now on (revoking twice is harmless)."""
        token = services.revoke_token(self.get_object(), actor=request.user)
        return Response(self.get_serializer(token).data)


class MeView(APIView):
    """Who you are to the API: your effective role and host-group scope."""

    @extend_schema(responses={200: MeSerializer})
    def get(self, request: Request) -> Response:
        scope = scope_of(request.user)
        role = role_of(request.user)
        token = request.auth if isinstance(request.auth, ApiToken) else None
        groups = (
            None
            if scope is None
            else list(HostGroup.objects.filter(pk__in=scope).values_list("name", flat=True))
        )
        return Response(
            MeSerializer(
                {
                    "username": request.user.get_username(),
                    "role": role.label if role else "",
                    "host_groups": groups,
                    "token": token.pk if token else None,
                }
            ).data
        )
