"""What every page view shares: role checks, pagination and the answer to an action."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from access.permissions import scope_queryset
from access.roles import Role, has_role
from operations.models import Operation

View = Callable[..., HttpResponse]
F = TypeVar("F", bound=BaseForm)


def is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))  # set by django_htmx's middleware


def requires(role: Role) -> Callable[[View], View]:
    """Log in first; then answer 403 unless the user holds ``role`` (or a higher one).

    The check is on the server: hiding a button is not what keeps a viewer out.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_role(request.user, role):
                raise PermissionDenied(f"this needs the {role.label} role")
            return view(request, *args, **kwargs)

        return login_required(guarded)

    return decorate


viewer = requires(Role.VIEWER)
operator = requires(Role.OPERATOR)
admin = requires(Role.ADMIN)


def visible(request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Only the rows the user's host-group scope lets them see (all, when unscoped)."""
    return scope_queryset(queryset, request.user)


def scoped_form(request: HttpRequest, form: F) -> F:
    """The form, its choices of hosts, groups and the like limited to the user's scope."""
    for field in form.fields.values():
        queryset = getattr(field, "queryset", None)
        if queryset is not None:
            field.queryset = visible(request, queryset)  # type: ignore[attr-defined]
    return form


def paginate(request: HttpRequest, items: Any, per_page: int) -> Page:
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def started(
    request: HttpRequest, operation: Operation, message: str, fallback: str, **kwargs: Any
) -> HttpResponse:
    """Answer an action that queued an operation.

    htmx gets a feedback card that follows the operation to its end; a plain form
    post is redirected back with the message.
    """
    if is_htmx(request):
        return render(
            request,
            "frontend/partials/op_feedback.html",
            {"op": operation, "message": message},
        )
    messages.success(request, f"{message} (operation #{operation.pk})")
    return redirect(fallback, **kwargs)


def form_problems(errors: Mapping[str, Iterable[Any]]) -> str:
    """A form's errors as one readable line: "field: message; other: message"."""
    return "; ".join(f"{field}: {' '.join(map(str, texts))}" for field, texts in errors.items())


def refused(request: HttpRequest, message: str, fallback: str, **kwargs: Any) -> HttpResponse:
    """Answer an action that could not be started, saying why, with nothing queued."""
    if is_htmx(request):
        return render(request, "frontend/partials/notice.html", {"tone": "bad", "text": message})
    messages.error(request, message)
    return redirect(fallback, **kwargs)


def done(request: HttpRequest, message: str, fallback: str, **kwargs: Any) -> HttpResponse:
    """Answer an action that completed inside the request."""
    if is_htmx(request):
        return render(request, "frontend/partials/notice.html", {"tone": "ok", "text": message})
    messages.success(request, message)
    return redirect(fallback, **kwargs)
