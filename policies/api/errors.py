"""The policy check as an API answer: a violation is a 400 naming the field and the
policy, an override by a non-admin a 403."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import PermissionDenied, ValidationError

from operations.services import Actor
from policies.services import OverrideRefused, PolicyViolation, check_spec

if TYPE_CHECKING:
    from hosts.models import Host


def enforce_policy(
    spec: dict[str, Any],
    hosts: Sequence[Host],
    *,
    actor: Actor,
    override: bool = False,
    field_prefix: str = "",
    context: str = "",
) -> None:
    try:
        check_spec(spec, hosts, actor=actor, override=override, field_prefix=field_prefix)
    except PolicyViolation as exc:
        raise ValidationError({exc.field: f"{context}{exc.message}"}) from None
    except OverrideRefused as exc:
        raise PermissionDenied(str(exc)) from None
