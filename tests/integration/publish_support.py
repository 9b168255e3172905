"""Helpers for the tests of tagging, pushing, committing and building images."""

from __future__ import annotations

from django.urls import reverse

from hosts.choices import HostStatus
from hosts.models import Host
from images.models import Image
from tests.fleet import wait_for


def online(host: Host) -> Host:
    return wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).first(),
        what=f"{host.name} to come online",
    )


def finished(client, response, timeout: float = 180) -> dict:
    assert response.status_code == 202, response.content
    url = response.json()["operation_url"]

    def done():
        body = client.get(url).json()
        return body if body["status"] in {"succeeded", "failed", "cancelled"} else None

    return wait_for(done, timeout=timeout, interval=0.3, what=f"operation {url} to finish")


def post(client, name: str, args: list, body: dict):
    return client.post(reverse(name, args=args), body, content_type="application/json")


def pulled_image(client, host: Host, ref: str) -> Image:
    """``ref`` pulled onto ``host`` through Berth, as its image row."""
    operation = finished(client, post(client, "host-image-pull", [host.pk], {"ref": ref}))
    assert operation["status"] == "succeeded", operation["error"]
    return Image.objects.get(host=host, image_id=operation["result"]["id"])


def stream(client, operation_id: int) -> list[dict]:
    url = reverse("operation-stream", args=[operation_id])
    return client.get(url, {"offset": 0}).json()["items"]
