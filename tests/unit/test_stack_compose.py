"""Stacks' compose files: checked against the Compose Specification's schema, then
against what Berth supports, each compose service as a single-container service's spec
is; anything wrong is refused naming its key, never dropped."""

import pytest

from containers.models import Secret
from deployments import compose

REF = "198.18.0.1:5000/demo/web:v1"
STACK = f"""
x-common: &common
  restart: unless-stopped
services:
  web:
    <<: *common
    image: {REF}
    command: ["httpd", "-f"]
    entrypoint: /bin/sh -c
    working_dir: /www
    user: "1000"
    depends_on:
      cache: {{condition: service_healthy}}
    ports: ["8080:80", {{target: 443, published: 8443, host_ip: 127.0.0.1}}]
    volumes: ["data:/data", {{type: volume, source: data, target: /ro, read_only: true}}]
    environment: [MODE=fast]
    labels: {{team: shop}}
    healthcheck: {{test: ["CMD", "true"], interval: 1m30s, timeout: 500ms, retries: 2}}
    deploy: {{resources: {{limits: {{cpus: "0.5", memory: 64m}}}}}}
  cache:
    image: 198.18.0.1:5000/demo/sleeper:v1
    networks: {{back: {{aliases: [kv]}}}}
    deploy: {{replicas: 2}}
networks:
  back: {{internal: true}}
volumes:
  data: {{}}
"""


def test_a_stack_becomes_one_container_spec_per_compose_service_in_start_order():
    plan = compose.agent_plan("shop", compose.parse(STACK))
    cache, web = plan["components"]
    assert (cache["name"], web["name"]) == ("cache", "web")  # web depends on cache
    assert web["depends_on"] == {"cache": "service_healthy"}
    assert cache["replicas"] == 2
    assert cache["networks"] == {"shop_back": ["cache", "kv"]}
    assert web["networks"] == {"shop_default": ["web"]}
    assert plan["networks"] == {
        "shop_back": {"internal": True, "labels": {}},
        "shop_default": {"internal": False, "labels": {}},
    }
    assert plan["volumes"] == {"shop_data": {"labels": {}}}
    spec = web["spec"]
    assert spec["volumes"][0] == {"source": "shop_data", "target": "/data", "read_only": False}
    assert spec["volumes"][1]["read_only"] is True
    assert spec["ports"][0] == {"private": 80, "public": 8080, "protocol": "tcp"}
    assert spec["ports"][1]["ip"] == "127.0.0.1"
    assert spec["env"] == {"MODE": "fast"}
    assert spec["restart_policy"] == {"name": "unless-stopped", "max_retries": 0}
    assert spec["healthcheck"] == {
        "test": ["CMD", "true"], "interval_s": 90.0, "timeout_s": 0.5, "retries": 2
    }  # fmt: skip
    assert spec["limits"] == {"cpus": 0.5, "memory": 64 * 1024 * 1024}
    assert spec["user"] == "1000"
    assert web["entrypoint"] == ["/bin/sh", "-c"]
    assert web["working_dir"] == "/www"


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("services: {web: {image: x, cap_add: [NET_ADMIN]}}", "services.web.cap_add"),
        ("services: {web: {image: x, build: .}}", "services.web.build"),
        ("services: {web: {image: x, no_such_key: 1}}", "services.web.no_such_key"),
        ("services: {web: {image: x}}\nconfigs: {}", "configs"),
        ("services: {web: {image: x, env_file: .env}}", "services.web.env_file"),
        ("services: {web: {build: .}}", "services.web.build"),
        (
            "services: {web: {image: x, healthcheck: {test: x, start_interval: 1s}}}",
            "services.web.healthcheck.start_interval",
        ),
        ("services: {web: {image: x, deploy: {mode: global}}}", "services.web.deploy.mode"),
        ("services: {web: {image: x, deploy: {replicas: 50}}}", "services.web.deploy.replicas"),
        ("services: {web: {image: x, volumes: ['./x:/y']}}", "services.web.volumes[0]"),
        ("services: {web: {image: x, volumes: ['data:/y']}}", "services.web.volumes[0]"),
        ("services: {web: {image: x, networks: [back]}}", "services.web.networks.back"),
        ("services: {web: {image: x}}\nnetworks: {n: {driver: overlay}}", "networks.n.driver"),
        ("services: {web: {image: x}}\nnetworks: {n: {external: true}}", "networks.n.external"),
        ("services: {web: {image: x, depends_on: [db]}}", "services.web.depends_on.db"),
        (
            "services: {a: {image: x, depends_on: [b]}, b: {image: x, depends_on: [a]}}",
            "services.a.depends_on",
        ),
        (
            "services: {web: {image: x, depends_on: {a: {condition: "
            "service_completed_successfully}}}, a: {image: x}}",
            "services.web.depends_on.a.condition",
        ),
        ("services: {web: {image: x, restart: sometimes}}", "services.web.restart"),
        ("services: {web: {image: x, environment: {A: null}}}", "services.web.environment.A"),
        (
            "services: {web: {image: x, healthcheck: {test: x, interval: soon}}}",
            "services.web.healthcheck.interval",
        ),
        (
            "services: {web: {image: x, ports: ['8080:80'], deploy: {replicas: 2}}}",
            "services.web.ports[0]",
        ),
        ("services: {}", "services"),
        ("[1, 2]", "compose"),
        ("services: {web: [", "compose"),
        ("services: !!python/object:os.system {}", "compose"),
    ],
)
def test_what_is_not_supported_is_refused_naming_the_key(text, path):
    with pytest.raises(compose.ComposeInvalid) as refused:
        compose.checked_specs(compose.parse(text))
    assert refused.value.path == path, refused.value


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("service", "path"),
    [
        ({"image": "UPPER"}, "services.web.image"),
        ({"image": REF, "ports": ["99999:80"]}, "services.web.ports[0].public"),
        ({"image": REF, "environment": {"PASSWORD": "x"}}, "services.web.environment.PASSWORD"),
        (
            {"image": REF, "x-berth-env-secrets": {"DB": "missing"}},
            "services.web.x-berth-env-secrets.DB",
        ),
        ({"image": REF, "working_dir": "www"}, "services.web.working_dir"),
        ({"image": REF, "volumes": ["/srv/data:data"]}, "services.web.volumes[0].target"),
    ],
)
def test_each_compose_service_passes_the_container_spec_checks(service, path):
    document = compose.parse(compose.yaml.safe_dump({"services": {"web": service}}))
    with pytest.raises(compose.ComposeInvalid) as refused:
        compose.checked_specs(document)
    assert refused.value.path == path, refused.value


@pytest.mark.django_db
def test_secrets_are_named_as_berth_secrets():
    Secret.objects.create(name="db-password", value="s3cret")
    document = compose.parse(
        f"services: {{web: {{image: {REF}, x-berth-env-secrets: {{DB_PASSWORD: db-password}}}}}}"
    )
    (web,) = compose.agent_plan("shop", document)["components"]
    assert web["spec"]["env_secrets"] == {"DB_PASSWORD": "db-password"}
    assert "s3cret" not in str(document)


def test_yaml_aliases_cannot_blow_a_small_file_up():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefgh":
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [*{previous}, *{previous}, *{previous}, *{previous}, "
        bomb += f"*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
    with pytest.raises(compose.ComposeInvalid) as refused:
        compose.parse(bomb)
    assert "1 MiB" in refused.value.message
