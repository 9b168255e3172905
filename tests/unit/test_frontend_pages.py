"""Every page renders for a viewer, live fragments answer htmx, and viewers see no
action buttons while operators and admins do."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from deployments.models import Service
from hosts.services import authorized_keys_line

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _pages(seeded):
    return {
        "fleet": reverse("frontend:dashboard"),
        "host": reverse("frontend:host", args=[seeded["hosts"][0].pk]),
        "containers": reverse("frontend:containers"),
        "container": reverse("frontend:container", args=[seeded["container"].pk]),
        "images": reverse("frontend:images"),
        "image": reverse("frontend:image", args=[seeded["image"].pk]),
        "disk": reverse("frontend:disk"),
        "services": reverse("frontend:services"),
        "service": reverse("frontend:service", args=[seeded["service"].pk]),
        "operations": reverse("frontend:operations"),
        "operation": reverse("frontend:operation", args=[seeded["operation"].pk]),
    }


def test_every_page_and_its_live_fragment_render_for_a_viewer(viewer_client, seeded):
    for name, url in _pages(seeded).items():
        page = viewer_client.get(url)
        assert page.status_code == 200, name
        assert "<nav" in page.text and "Operations" in page.text, name
        if name == "services":
            continue  # a static list: nothing on it polls
        fragment = viewer_client.get(url, **HTMX)
        assert fragment.status_code == 200, name
        assert "<html" not in fragment.text, f"{name}: an htmx poll gets only the fragment"


def test_anonymous_visitors_are_sent_to_log_in(client, seeded):
    for url in _pages(seeded).values():
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_fleet_shows_status_reason_versions_facts_and_counts(viewer_client, seeded):
    page = viewer_client.get(reverse("frontend:dashboard")).text
    assert "Unreachable" in page and "connection refused" in page
    assert "24.0.5" in page and "4 CPU" in page and "8.0 GiB" in page
    assert 'data-container="web-1-app-0"' in page
    assert 'data-testid="hosts-total">2<' in page


def test_fleet_filters_by_status_group_label_and_search(viewer_client, seeded):
    def hosts(query):
        page = viewer_client.get(reverse("frontend:dashboard") + query, **HTMX).text
        return {name for name in ("web-1", "web-2") if f'data-host="{name}"' in page}

    assert hosts("?status=unreachable") == {"web-2"}
    assert hosts("?group=edge") == {"web-1"}
    assert hosts("?label=tier=web") == {"web-1", "web-2"}
    assert hosts("?label=tier=db") == set()
    assert hosts("?q=web-2") == {"web-2"}
    bad_label = viewer_client.get(reverse("frontend:dashboard") + "?label=b@d").text
    assert "Filter not applied" in bad_label


def test_viewer_sees_no_action_buttons(viewer_client, seeded):
    for name, url in _pages(seeded).items():
        page = viewer_client.get(url).text
        assert "hx-post" not in page, f"{name} offers an action to a viewer"
        assert "Add a host" not in page and ">Admin<" not in page


def test_operator_sees_container_and_deploy_actions_but_not_host_admin(operator_client, seeded):
    container = operator_client.get(
        reverse("frontend:container", args=[seeded["container"].pk])
    ).text
    for action in ("start", "stop", "restart", "kill", "remove"):
        assert f'data-action="{action}"' in container
    assert "hx-confirm" in container  # destructive actions ask first
    service = operator_client.get(reverse("frontend:service", args=[seeded["service"].pk])).text
    assert 'data-action="deploy"' in service
    assert 'data-action="rollback"' in service  # revision 1 is earlier than the current one
    host = operator_client.get(reverse("frontend:host", args=[seeded["hosts"][0].pk])).text
    assert "Refresh" in host and "Remove host" not in host


def test_admin_sees_host_administration(admin_client, seeded):
    host = admin_client.get(reverse("frontend:host", args=[seeded["hosts"][0].pk])).text
    assert "Remove host" in host
    line = authorized_keys_line(seeded["hosts"][0])
    assert line.startswith('command="umask 077;') and html.escape(line) in host
    assert ">Admin<" in admin_client.get(reverse("frontend:dashboard")).text


def test_service_page_shows_history_with_diff(viewer_client, seeded):
    page = viewer_client.get(reverse("frontend:service", args=[seeded["service"].pk])).text
    assert 'data-revision="2"' in page and 'data-revision="1"' in page
    assert "spec.image" in page and "demo/web:v2" in page
    assert 'data-step="done"' in page


def test_a_service_with_no_revision_yet_has_a_page(viewer_client, seeded):
    service = Service.objects.create(name="empty")
    response = viewer_client.get(reverse("frontend:service", args=[service.pk]))
    assert response.status_code == 200
    assert "empty" in response.text


def test_a_removed_container_says_so_when_polled(viewer_client, seeded):
    container = seeded["container"]
    url = reverse("frontend:container", args=[container.pk])
    container.delete()
    assert viewer_client.get(url).status_code == 404
    assert 'data-testid="gone"' in viewer_client.get(url, **HTMX).text
