"""Bad container action parameters are answered with a 400 naming the field, and
nothing is queued; unknown containers and hosts are a 404."""

import pytest
from django.urls import reverse

from containers.models import Container
from hosts.models import Host
from operations.models import Operation

pytestmark = pytest.mark.django_db


@pytest.fixture
def container():
    host = Host.objects.create(name="web-host", transport="local")
    return Container.objects.create(
        host=host, container_id="c" * 64, name="web", image="demo/web:v1", state="running"
    )


def _post(client, container_pk, verb, body=None):
    url = reverse(f"container-{verb}", args=[container_pk])
    return client.post(url, body or {}, content_type="application/json")


@pytest.mark.parametrize(
    ("verb", "body", "field"),
    [
        ("kill", {"signal": "SIGBOGUS"}, "signal"),
        ("kill", {"signal": 65}, "signal"),
        ("kill", {"signal": True}, "signal"),
        ("stop", {"timeout": -1}, "timeout"),
        ("restart", {"timeout": "soon"}, "timeout"),
        ("stop", {"timeout": 100000}, "timeout"),
        ("logs", {"tail": 10001}, "tail"),
        ("logs", {"tail": -5}, "tail"),
        ("logs", {"since": "yesterday"}, "since"),
        ("logs", {"duration": 10}, "duration"),
        ("logs", {"follow": True, "duration": 10**6}, "duration"),
        ("remove", {"force": "perhaps"}, "force"),
    ],
)
def test_bad_action_parameter_is_a_400_naming_the_field(admin_client, container, verb, body, field):
    response = _post(admin_client, container.pk, verb, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Operation.objects.exists()


def test_signal_message_says_what_to_give(admin_client, container):
    response = _post(admin_client, container.pk, "kill", {"signal": "NOPE"})
    assert "SIGTERM" in response.json()["errors"]["signal"][0]


@pytest.mark.parametrize("verb", ["start", "stop", "restart", "kill", "remove", "logs", "stats"])
def test_action_on_unknown_container_is_a_404(admin_client, container, verb):
    response = _post(admin_client, container.pk + 1000, verb)
    assert response.status_code == 404
    assert not Operation.objects.exists()


def test_unknown_container_detail_is_a_404(admin_client, container):
    assert (
        admin_client.get(reverse("container-detail", args=[container.pk + 1000])).status_code == 404
    )


def test_action_records_an_operation_and_answers_202_with_its_url(admin_client, container):
    response = _post(admin_client, container.pk, "kill", {"signal": "term"})
    assert response.status_code == 202
    body = response.json()
    operation = Operation.objects.get(pk=body["operation"])
    assert response["Location"] == body["operation_url"]
    assert body["operation_url"].endswith(reverse("operation-detail", args=[operation.pk]))
    assert operation.action == "container.kill"
    assert operation.status == "pending"
    assert operation.host_id == container.host_id
    assert operation.target_type == "container"
    assert operation.target_id == str(container.pk)
    assert operation.params == {"container_id": "c" * 64, "name": "web", "signal": "SIGTERM"}


def test_logs_follow_defaults_to_the_configured_maximum(admin_client, container, settings):
    settings.BERTH_LOG_FOLLOW_MAX = 42
    response = _post(admin_client, container.pk, "logs", {"follow": True, "tail": "all"})
    assert response.status_code == 202
    params = Operation.objects.get().params
    assert params["duration"] == 42
    assert params["tail"] == "all"
    assert params["follow"] is True


def test_logs_since_accepts_an_iso_date_time(admin_client, container):
    response = _post(admin_client, container.pk, "logs", {"since": "2024-01-01T00:00:00Z"})
    assert response.status_code == 202
    assert Operation.objects.get().params["since"] == 1704067200.0


def test_run_on_unknown_host_is_a_404(admin_client):
    url = reverse("host-containers", args=[999])
    response = admin_client.post(url, {"image": "demo/web:v1"}, content_type="application/json")
    assert response.status_code == 404
    assert not Operation.objects.exists()


def test_anonymous_requests_are_refused(client, container):
    assert client.get(reverse("container-list")).status_code in {401, 403}
    assert _post(client, container.pk, "start").status_code in {401, 403}
    assert not Operation.objects.exists()
