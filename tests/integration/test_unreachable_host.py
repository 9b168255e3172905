"""A host that cannot be reached is reported as such, with a reason an operator can
act on, and never holds up the refresh of the others."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hosts.choices import HostStatus
from hosts.models import Host
from hosts.tasks import refresh_fleet
from tests.fleet import run_testbed, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _online(host: Host) -> Host:
    return wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).first(),
        what=f"{host.name} to come online",
    )


def _checked_after(host: Host, moment) -> Host | None:
    return Host.objects.filter(pk=host.pk, last_checked_at__gt=moment).first()


def test_host_with_sshd_stopped_is_unreachable_while_others_refresh(register, admin_client, fleet):
    h1 = _online(register(fleet["h1"]))
    run_testbed("sshd", "stop", "h2")
    try:
        h2 = register(fleet["h2"])
        h2 = wait_for(
            lambda: Host.objects.filter(pk=h2.pk, status=HostStatus.UNREACHABLE).first(),
            what="h2 to be marked unreachable",
        )
        before = max(h1.last_checked_at, h2.last_checked_at)
        refresh_fleet.delay()
        h2 = wait_for(lambda: _checked_after(h2, before), what="h2's next refresh")
        h1 = wait_for(lambda: _checked_after(h1, before), what="h1's next refresh")
    finally:
        run_testbed("sshd", "start", "h2")

    assert h1.status == HostStatus.ONLINE
    assert h2.status == HostStatus.UNREACHABLE
    assert "connection refused" in h2.status_reason
    assert h2.address in h2.status_reason
    page = admin_client.get(reverse("frontend:dashboard")).content.decode()
    assert "Unreachable" in page and "connection refused" in page


def test_host_cut_off_the_network_does_not_hold_up_the_others(register, fleet):
    # The cut-off host comes first in the refresh batch (by name and by id), so a
    # refresh that took one host at a time would store it before the other one.
    cut_off = _online(register(fleet["h2"], name="a-cut-off"))
    h1 = _online(register(fleet["h1"], name="b-online"))
    assert [host.pk for host in Host.objects.all()] == [cut_off.pk, h1.pk]
    run_testbed("link", "down", "h2")
    try:
        before = max(h1.last_checked_at, cut_off.last_checked_at)
        refresh_fleet.delay()
        cut_off = wait_for(lambda: _checked_after(cut_off, before), timeout=40, what="h2's refresh")
        h1 = wait_for(lambda: _checked_after(h1, before), timeout=40, what="h1's refresh")
    finally:
        run_testbed("link", "up", "h2")

    assert cut_off.status == HostStatus.UNREACHABLE
    # the connect or the request timed out, or ARP gave up first
    assert "within" in cut_off.status_reason or "no route to host" in cut_off.status_reason
    # h1 finished its refresh while the host before it was still waiting for its timeout
    assert h1.status == HostStatus.ONLINE
    assert h1.last_checked_at < cut_off.last_checked_at
