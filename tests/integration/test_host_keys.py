"""Host keys are pinned: an unknown key waits for an admin, a changed key is refused."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agent_link.errors import HostKeyMismatch
from agent_link.launch import open_link
from hosts.agent import link_config, link_timeouts
from hosts.choices import HostStatus
from hosts.models import Host
from tests.fleet import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _status(host: Host, status: str) -> Host:
    return wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=status).first(),
        what=f"{host.name} to become {status}",
    )


def test_changed_host_key_is_refused_and_no_agent_runs(register, fleet):
    h1, h2 = fleet["h1"], fleet["h2"]
    host = register(h1, name="h1-pinned-wrong", host_key=h2.host_key)

    host = _status(host, HostStatus.HOST_KEY_MISMATCH)
    assert "refused" in host.status_reason
    assert host.host_key_offered == h1.host_key
    assert host.host_key == h2.host_key  # the pin is not replaced by what the host offered
    # nothing was learned from the host: no agent answered
    assert host.last_seen_at is None
    assert host.facts == {}
    assert host.agent_version == ""
    assert not host.containers.exists()
    # the link is refused before authentication, so no command can have run
    with pytest.raises(HostKeyMismatch):
        open_link(link_config(host), link_timeouts())


def test_unknown_host_key_waits_for_approval_then_connects(register, admin_client, fleet):
    host = register(fleet["h1"], name="h1-unpinned", host_key="")

    host = _status(host, HostStatus.HOST_KEY_UNKNOWN)
    assert host.host_key_offered == fleet["h1"].host_key
    assert host.last_seen_at is None

    url = reverse("host-approve-host-key", args=[host.pk])
    response = admin_client.post(url, {"fingerprint": host.host_key_offered_fingerprint})
    assert response.status_code == 200, response.content
    assert response.json()["host_key"] == fleet["h1"].host_key

    host = _status(host, HostStatus.ONLINE)
    assert host.host_key == fleet["h1"].host_key
    assert host.operations.filter(action="host.approve_key", status="succeeded").exists()


def test_an_edited_address_is_checked_against_the_pinned_key_at_once(register, admin_client, fleet):
    """Pointing a host at another machine (PATCH address) is caught by the refresh the
    edit queues: that machine's key is not the pinned one. Pointing it back brings the
    host online again, with nothing re-approved."""
    h1, h2 = fleet["h1"], fleet["h2"]
    host = register(h1, name="h1-moved")
    _status(host, HostStatus.ONLINE)
    url = reverse("host-detail", args=[host.pk])

    response = admin_client.patch(url, {"address": h2.address}, content_type="application/json")
    assert response.status_code == 200, response.content
    host = _status(host, HostStatus.HOST_KEY_MISMATCH)
    assert host.host_key == h1.host_key  # the pin stays
    assert host.host_key_offered == h2.host_key

    response = admin_client.patch(url, {"address": h1.address}, content_type="application/json")
    assert response.status_code == 200, response.content
    _status(host, HostStatus.ONLINE)
