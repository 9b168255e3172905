"""A bulk action acts only on what the caller clearly chose: an unknown filter key, an
empty selection or one that matches every container is a 400 (unless ``"all": true``
says so), nothing is queued, and the 202 answer says how many containers matched."""

import pytest
from django.urls import reverse

from containers.models import Container
from hosts.models import Host
from operations.models import Operation

pytestmark = pytest.mark.django_db

BULK = "/api/v1/containers/bulk/"


@pytest.fixture
def fleet():
    one = Host.objects.create(name="one", transport="local")
    two = Host.objects.create(name="two", transport="local")
    rows = [
        (one, "web-1", {"app": "web"}),
        (two, "web-2", {"app": "web"}),
        (two, "db-1", {"app": "db"}),
    ]
    return [
        Container.objects.create(
            host=host,
            container_id=f"{index}" * 64,
            name=name,
            image="demo/web:v1",
            state="running",
            labels=labels,
        )
        for index, (host, name, labels) in enumerate(rows, start=1)
    ]


def _bulk(client, body, query=""):
    return client.post(BULK + query, body, content_type="application/json")


def test_unknown_filter_key_is_a_400_naming_the_key(admin_client, fleet):
    response = _bulk(admin_client, {"action": "restart", "filter": {"colour": "blue"}})
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert "filter.colour" in errors
    assert "label" in errors["filter.colour"][0]  # says what may be used instead
    assert not Operation.objects.exists()


def test_unknown_key_next_to_a_known_one_is_still_refused(admin_client, fleet):
    body = {"action": "restart", "filter": {"label": "app=web", "colour": "blue"}}
    response = _bulk(admin_client, body)
    assert response.status_code == 400
    assert "filter.colour" in response.json()["errors"]
    assert not Operation.objects.exists()


def test_unknown_body_field_is_a_400_naming_it(admin_client, fleet):
    body = {"action": "restart", "ids": [fleet[0].pk], "al": True}
    response = _bulk(admin_client, body)
    assert response.status_code == 400
    assert "al" in response.json()["errors"]
    assert not Operation.objects.exists()


def test_query_parameters_are_refused_not_ignored(admin_client, fleet):
    response = _bulk(admin_client, {"action": "restart", "ids": [fleet[0].pk]}, "?colour=blue")
    assert response.status_code == 400
    assert "colour" in response.json()["errors"]
    assert not Operation.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"action": "restart"},
        {"action": "restart", "filter": {}},
        {"action": "restart", "ids": []},
        {"action": "restart", "all": False},
        {"action": "restart", "filter": {}, "all": False},
    ],
)
def test_empty_selection_without_all_is_a_400(admin_client, fleet, body):
    response = _bulk(admin_client, body)
    assert response.status_code == 400, response.content
    assert not Operation.objects.exists()


def test_filter_matching_every_container_needs_all(admin_client, fleet):
    response = _bulk(admin_client, {"action": "restart", "filter": {"image": "demo"}})
    assert response.status_code == 400
    assert '"all": true' in response.json()["message"]
    assert not Operation.objects.exists()


def test_filter_matching_every_container_with_all_acts_on_all(admin_client, fleet):
    body = {"action": "restart", "filter": {"image": "demo"}, "all": True}
    response = _bulk(admin_client, body)
    assert response.status_code == 202, response.content
    assert response.json()["matched"] == 3
    assert Operation.objects.filter(action="container.restart").count() == 3


def test_all_alone_selects_every_container(admin_client, fleet):
    response = _bulk(admin_client, {"action": "stop", "all": True})
    assert response.status_code == 202, response.content
    assert response.json()["matched"] == 3
    parent = Operation.objects.get(pk=response.json()["operation"])
    assert parent.children.count() == 3


def test_all_with_ids_is_a_400(admin_client, fleet):
    response = _bulk(admin_client, {"action": "stop", "ids": [fleet[0].pk], "all": True})
    assert response.status_code == 400
    assert "all" in response.json()["errors"]


def test_answer_says_how_many_containers_the_filter_matched(admin_client, fleet):
    response = _bulk(admin_client, {"action": "restart", "filter": {"label": "app=web"}})
    assert response.status_code == 202, response.content
    assert response.json()["matched"] == 2
    assert response.json()["operation_url"].endswith(f"/operations/{response.json()['operation']}/")
    children = Operation.objects.filter(action="container.restart")
    assert {op.target_id for op in children} == {str(fleet[0].pk), str(fleet[1].pk)}


def test_answer_says_how_many_ids_matched(admin_client, fleet):
    response = _bulk(admin_client, {"action": "start", "ids": [fleet[2].pk]})
    assert response.status_code == 202
    assert response.json()["matched"] == 1


def test_filter_that_matches_nothing_is_a_400(admin_client, fleet):
    response = _bulk(admin_client, {"action": "restart", "filter": {"label": "app=none"}})
    assert response.status_code == 400
    assert not Operation.objects.exists()


def test_schema_documents_matched(admin_client):
    schema = admin_client.get(reverse("schema"), {"format": "json"}).json()
    answer = schema["paths"]["/api/v1/containers/bulk/"]["post"]["responses"]["202"]
    ref = answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = schema["components"]["schemas"][ref]["properties"]
    assert "matched" in properties
    assert properties["matched"].get("description")
    assert "all" in str(schema["paths"]["/api/v1/containers/bulk/"]["post"]["requestBody"])


def test_page_bulk_without_a_selection_acts_on_nothing(operator_client, seeded):
    response = operator_client.post(reverse("frontend:containers-bulk"), {"verb": "restart"})
    assert response.status_code in (200, 302)
    assert not Operation.objects.filter(action__startswith="container.").exists()
    assert not Operation.objects.filter(action__startswith="bulk.").exists()


def test_page_bulk_ignores_ids_outside_the_selection(operator_client, seeded):
    response = operator_client.post(
        reverse("frontend:containers-bulk"), {"verb": "restart", "container": ["x", "999999"]}
    )
    assert response.status_code in (200, 302)
    assert not Operation.objects.filter(action__startswith="bulk.").exists()
