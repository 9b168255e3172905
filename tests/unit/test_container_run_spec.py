"""The run spec is checked before anything is queued: a bad image, name, port or mount
is a 400 naming the field; a good one is recorded as the agent's arguments."""

import pytest
from django.urls import reverse

from containers.api.serializers import ContainerRunSerializer
from hosts.models import Host
from operations.models import Operation

pytestmark = pytest.mark.django_db

IMAGE = "198.18.0.1:5000/demo/web:v1"


def _errors(**spec):
    serializer = ContainerRunSerializer(data=spec)
    assert not serializer.is_valid()
    return serializer.errors


def _args(**spec):
    serializer = ContainerRunSerializer(data=spec)
    assert serializer.is_valid(), serializer.errors
    return serializer.to_agent_args()


@pytest.mark.parametrize(
    "image",
    [
        "",
        "Demo/Web:v1",
        "demo/web:v1 ",
        "demo web",
        "demo/web:",
        "demo//web",
        "-demo/web",
        "demo/web@sha256:nothex",
        "x" * 600,
    ],
)
def test_invalid_image_reference_is_refused(image):
    assert "image" in _errors(image=image)


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "nginx:1.27-alpine",
        IMAGE,
        "localhost/app",
        "Registry.Example.com/team/app:v1",
        "demo/web@sha256:" + "a" * 64,
    ],
)
def test_valid_image_reference_is_accepted(image):
    assert _args(image=image)["image"] == image


@pytest.mark.parametrize("name", ["a", "web 1", "-web", "web/1", "wéb", "x" * 129])
def test_name_with_bad_characters_is_refused(name):
    assert "letters, digits" in _errors(image=IMAGE, name=name)["name"][0]


@pytest.mark.parametrize(
    "ports",
    [
        ["8080:80:90"],
        ["abc:80"],
        ["70000:80"],
        [{"private": 0}],
        [{"public": 8080}],
        [{"private": 80, "protocol": "sctp"}],
        [{"private": 80, "ip": "not-an-ip"}],
        [{"private": 80, "colour": "red"}],
        ["8080:80", "8080:81"],
        [80],
        "8080:80",
    ],
)
def test_bad_port_mapping_is_refused(ports):
    assert "ports" in _errors(image=IMAGE, ports=ports)


def test_port_mappings_in_both_forms_become_agent_ports():
    ports = _args(
        image=IMAGE,
        ports=["8080:80", "127.0.0.1:5353:53/udp", "9000", {"private": 443, "public": 8443}],
    )["ports"]
    assert ports == [
        {"private": 80, "public": 8080, "protocol": "tcp"},
        {"private": 53, "public": 5353, "protocol": "udp", "ip": "127.0.0.1"},
        {"private": 9000, "protocol": "tcp"},
        {"private": 443, "public": 8443, "protocol": "tcp"},
    ]


def test_the_same_container_port_on_two_host_addresses_is_allowed():
    ports = _args(image=IMAGE, ports=["127.0.0.1:8080:80", "127.0.0.2:8080:80"])["ports"]
    assert len(ports) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("volumes", ["relative/path:/data"]),
        ("volumes", ["/srv/data:data"]),
        ("volumes", ["/srv/../etc:/data"]),
        ("volumes", ["/a:/b:rx"]),
        ("env", {"1BAD": "x"}),
        ("env", {"GOOD": None}),
        ("env", ["A=1"]),
        ("command", [1, 2]),
        ("command", "echo 'unclosed"),
        ("restart_policy", {"name": "sometimes"}),
        ("restart_policy", {"name": "always", "max_retries": 3}),
        ("healthcheck", {"test": ["CURL", "x"]}),
        ("healthcheck", {"test": ["CMD"]}),
        ("limits", {"memory": "lots"}),
        ("limits", {"memory": 1024}),
        ("limits", {"cpus": 0}),
        ("labels", {"berth.run": "mine"}),
    ],
)
def test_bad_spec_field_is_refused_by_name(field, value):
    assert field in _errors(image=IMAGE, **{field: value})


def test_full_spec_becomes_the_agents_run_arguments():
    args = _args(
        image=IMAGE,
        name="web-1",
        command="httpd -f -p 80 -h '/www root'",
        env={"MODE": "prod", "EMPTY": ""},
        ports=[{"private": 80, "public": 8080}],
        volumes=["/srv/www:/www:ro", {"source": "cache", "target": "/cache"}],
        restart_policy={"name": "on-failure", "max_retries": 3},
        labels={"team": "ops"},
        healthcheck={"test": "wget -q -O- http://127.0.0.1/", "interval_s": 5, "retries": 3},
        limits={"memory": "256m", "cpus": 0.5},
    )
    assert args == {
        "image": IMAGE,
        "name": "web-1",
        "command": ["httpd", "-f", "-p", "80", "-h", "/www root"],
        "env": {"MODE": "prod", "EMPTY": ""},
        "ports": [{"private": 80, "public": 8080, "protocol": "tcp"}],
        "volumes": [
            {"source": "/srv/www", "target": "/www", "read_only": True},
            {"source": "cache", "target": "/cache", "read_only": False},
        ],
        "restart_policy": {"name": "on-failure", "max_retries": 3},
        "labels": {"team": "ops"},
        "healthcheck": {
            "test": ["CMD-SHELL", "wget -q -O- http://127.0.0.1/"],
            "interval_s": 5.0,
            "retries": 3,
        },
        "limits": {"memory": 256 * 1024 * 1024, "cpus": 0.5},
    }


def test_invalid_image_through_the_api_is_a_400_and_records_nothing(admin_client):
    host = Host.objects.create(name="h", transport="local")
    url = reverse("host-containers", args=[host.pk])
    response = admin_client.post(url, {"image": "Demo/Web:v1"}, content_type="application/json")
    assert response.status_code == 400
    assert "not a valid repository name" in response.json()["errors"]["image"][0]
    assert not Operation.objects.exists()


def test_valid_run_through_the_api_records_a_run_operation(admin_client):
    host = Host.objects.create(name="h", transport="local")
    url = reverse("host-containers", args=[host.pk])
    body = {"image": IMAGE, "name": "web-1", "ports": ["8080:80"]}
    response = admin_client.post(url, body, content_type="application/json")
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert operation.action == "container.run"
    assert operation.host == host
    assert operation.params["spec"] == {
        "image": IMAGE,
        "name": "web-1",
        "ports": [{"private": 80, "public": 8080, "protocol": "tcp"}],
    }
    assert len(operation.params["run_key"]) == 32
