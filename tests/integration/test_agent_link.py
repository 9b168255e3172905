"""The agent link over real SSH and as a local process, against real dockerds."""

from __future__ import annotations

import pytest

from agent_link.pool import pool
from hosts import services
from hosts.agent import agent_link
from hosts.choices import HostStatus, Transport
from hosts.models import Host
from tests.fleet import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]


def test_local_transport_runs_the_same_agent_without_ssh(celery_worker, fleet):
    host = services.register_host(
        name="local", transport=Transport.LOCAL, docker_host=fleet["h1"].docker_host
    )
    host = wait_for(
        lambda: Host.objects.filter(pk=host.pk, status=HostStatus.ONLINE).first(),
        what="the local host to come online",
    )
    assert host.agent_version
    assert host.facts["docker_root_dir"]


def test_session_is_reused_across_refreshes_and_survives_a_malformed_line(register, fleet):
    host = register(fleet["h1"])
    try:
        assert services.refresh_host(host)
        link = agent_link(host)
        assert link.session.hello["protocol"] == 1

        link.session.process.write(b"this is not json\n")
        assert link.session.call("ping", timeout=5) == {"pong": True}

        assert services.refresh_host(host)
        assert agent_link(host) is link  # no new SSH connection, no new agent
    finally:
        pool.discard(host.pk)
