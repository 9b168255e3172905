"""Template helpers for Berth's pages: roles, sizes, durations and status colours."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from html import escape
from typing import Any

from django import template
from django.template.defaulttags import CsrfTokenNode
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from access.roles import Role, has_role

from ..forms import attrs_html

register = template.Library()


@register.filter
def can_operate(user: Any) -> bool:
    """Whether the user may act on containers, images and deployments."""
    return has_role(user, Role.OPERATOR)


@register.filter
def can_admin(user: Any) -> bool:
    """Whether the user may manage hosts, keys and users."""
    return has_role(user, Role.ADMIN)


@register.filter
def bytes_human(value: Any) -> str:
    """1536 → '1.5 KiB'."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(number) < 1024 or unit == "TiB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    return "-"  # pragma: no cover


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@register.filter
def compact_json(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


@register.filter
def ports_text(ports: Any) -> str:
    """Docker's port list as '0.0.0.0:8080→80/tcp, 443/tcp'."""
    if not isinstance(ports, list):
        return ""
    parts = []
    for port in ports:
        if not isinstance(port, dict):
            continue
        private = f"{port.get('private')}/{port.get('type') or port.get('protocol') or 'tcp'}"
        if port.get("public"):
            ip = port.get("ip") or "0.0.0.0"  # noqa: S104 - only displayed
            parts.append(f"{ip}:{port['public']}→{private}")
        else:
            parts.append(private)
    return ", ".join(dict.fromkeys(parts))


_TONES = {
    # hosts
    "online": "ok",
    "new": "neutral",
    "host_key_unknown": "warn",
    # containers
    "running": "ok",
    "healthy": "ok",
    "created": "neutral",
    "exited": "neutral",
    "paused": "warn",
    "restarting": "warn",
    "starting": "warn",
    "removing": "warn",
    # operations and rollouts
    "succeeded": "ok",
    "done": "ok",
    "pending": "neutral",
    "running-op": "info",
    "pulling": "info",
    "health-checking": "info",
    "skipped": "neutral",
    "cancelled": "neutral",
    "partial": "warn",
    "rolled_back": "warn",
}


@register.filter
def tone(value: Any) -> str:
    """The colour family of a status word: ok, info, warn, bad or neutral."""
    return _TONES.get(str(value), "bad" if value else "neutral")


@register.filter
def op_tone(value: Any) -> str:
    """Like ``tone`` for operation/rollout statuses, where 'running' is in progress."""
    return "info" if value == "running" else tone(value)


@register.simple_tag(takes_context=True)
def query_with(context: dict[str, Any], **changes: Any) -> str:
    """The current query string with some parameters replaced (for pagination links)."""
    request = context["request"]
    params = request.GET.copy()
    for key, value in changes.items():
        params[key] = value
    return params.urlencode()


@register.filter
def container_chips(containers: Iterable[Any]) -> SafeString:
    """Containers (anything with pk, name, state and health) as links coloured by state.

    Built in Python rather than with a template loop: the fleet page shows thousands of
    them, so the link is reversed once per call and each text is escaped once.
    """
    marker = "2147483647"
    head, _, tail = reverse("frontend:container", args=[int(marker)]).partition(marker)
    head, tail = escape(head), escape(tail)
    chips = []
    for container in containers:
        name = escape(container.name)
        state = container.state
        title = escape(f"{state}, {container.health}" if container.health else state)
        chips.append(
            f'<a class="chip state-dot tone-{escape(tone(state))}" href="{head}{int(container.pk)}'
            f'{tail}" data-container="{name}" title="{title}">{name}</a>'
        )
    return mark_safe("".join(chips))  # noqa: S308 - every value above is escaped


SHORT_DIGEST_HEX = 12  # as long as Docker's short image ids


@register.filter
def image_name(image: Any) -> str:
    """An image named in a list (``{"id", "tags"}``): its first tag, else its short id."""
    tags = image.get("tags") if isinstance(image, dict) else None
    if tags:
        return str(tags[0])
    image_id = str(image.get("id") or "") if isinstance(image, dict) else ""
    return image_id.partition(":")[2][:SHORT_DIGEST_HEX] or image_id


@register.simple_tag
def image_ref(image: str | None, digest: str | None = "") -> SafeString:
    """``demo/web:v2 (sha256:3e80…)``: the image as asked for and a short digest of the bits,
    the whole digest in the title. ``digest`` is a ``sha256:…`` or a pinned
    ``repo@sha256:…``; a ``repo@sha256:…`` image shows as its repository and the digest;
    without a digest only the image shows."""
    image = image or ""
    name, _, in_reference = image.partition("@")
    digest = (digest or "").rpartition("@")[2] or in_reference
    if not digest:
        return format_html("<code>{}</code>", image)
    algorithm, _, hex_part = digest.partition(":")
    short = f"{algorithm}:{hex_part[:SHORT_DIGEST_HEX]}…" if hex_part else digest
    return format_html(
        '<code>{}</code> <small class="mono digest" title="{}">({})</small>', name, digest, short
    )


_PK = 2**31 - 1  # stands for a row's id in a URL reversed once for many rows


@lru_cache(maxsize=4096)
def _escaped(name: str) -> str:
    return escape(str(name))  # a host's name, on a chip of each image it has


@register.simple_tag(takes_context=True)
def presence_chips(context: template.Context, hosts: Iterable[dict[str, Any]]) -> SafeString:
    """A chip per host an image is on (``FleetImage.hosts``), linking to the image's page
    on that host, with a form to remove it from that host for those who may. An image can
    be on every host of a fleet: the chips are joined here, the URLs reversed and the CSRF
    field rendered once."""
    operate = can_operate(context.get("user"))
    page_before, _, page_after = reverse("frontend:image", args=[_PK]).partition(str(_PK))
    if operate:
        csrf_field = CsrfTokenNode().render(context)
        url = reverse("frontend:image-remove", args=[_PK])
        before, _, after = url.partition(str(_PK))
    chips = []
    for presence in hosts:
        name = _escaped(presence["host_name"])
        row = int(presence["image"])
        page = escape(f"{page_before}{row}{page_after}")
        link = f'<a href="{page}" title="{name}: layers and details">{name}</a>'
        if not operate:
            chips.append(f'<span class="chip presence-chip">{link}</span>')
            continue
        action = escape(f"{before}{row}{after}")
        chips.append(
            f'<span class="chip presence-chip">{link}<form method="post" action="{action}" '
            f'class="inline" hx-post="{action}" hx-target="#feedback" hx-swap="afterbegin" '
            f'hx-confirm="Remove this image from {name}?">{csrf_field}<button class="chip-x" '
            f'aria-label="Remove from {name}" title="Remove from {name}">\u00d7</button>'
            "</form></span>"
        )
    return mark_safe("".join(chips))  # noqa: S308 - every value above is escaped


@register.filter
def choice_labels(field: Any) -> SafeString:
    """The choices of a checkbox (or radio) field, each ``<label>`` around its input and
    label, as a template loop over the field would write them with ``choice.tag``, but
    without a template render (and a cached BoundWidget) per choice: a form can offer
    every host of a fleet."""
    widget = field.field.widget
    id_ = widget.attrs.get("id") or field.auto_id
    attrs = field.build_widget_attrs({"id": id_} if id_ else {})
    labels = []
    for data in widget.subwidgets(field.html_name, field.value(), attrs=attrs):
        value = "" if data["value"] is None else f' value="{escape(str(data["value"]))}"'
        labels.append(
            f'<label><input type="{escape(str(data["type"]))}" '
            f'name="{escape(str(data["name"]))}"{value}{attrs_html(data["attrs"])}> '
            f"{escape(str(data['label']))}</label>"
        )
    return mark_safe("".join(labels) or "<small>None yet.</small>")  # noqa: S308 - escaped
