"""The policy check as an API answer: a violation is a 400 naming the field and the
policy, an override by a non-admin a 403."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import PermissionDenied, ValidationError

from operations.services import Actor
from policies.services import OverrideRefused, PolicyViolation, check_spec

if TYPE_CHECKING:
    from hosts.models import Host


@contextmanager
def policy_refusals(*, field_prefix: str = "", context: str = "") -> Iterator[None]:
    """Answer a policy refusal raised inside as the API does: a 400 naming the field
    (under ``field_prefix``, e.g. ``spec.``), or a 403 for an override by a non-admin."""
    try:
        yield
    except PolicyViolation as exc:
        raise ValidationError({f"{field_prefix}{exc.field}": f"{context}{exc.message}"}) from None
    except OverrideRefused as exc:
        raise PermissionDenied(str(exc)) from None


def enforce_policy(
    spec: dict[str, Any],
    hosts: Sequence[Host],
    *,
    actor: Actor,
    override: bool = False,
    field_prefix: str = "",
    context: str = "",
) -> None:
    with policy_refusals(field_prefix=field_prefix, context=context):
        check_spec(spec, hosts, actor=actor, override=override)
