"""Secret environment values: stored encrypted, referenced by name (``env_secrets``),
resolved by the worker only for the agent call. No API answer, operation, revision,
diff, log line or page ever holds the value; what runs is exactly what was given; a
plain ``env`` value whose name looks secret is refused with a pointer to secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from berth import crypto
from containers import services as container_services
from containers.models import Container, Secret
from containers.secrets import (
    MissingSecret,
    create_secret,
    delete_secret,
    looks_secret,
    resolve_env,
    update_secret,
)
from deployments import services as deployment_services
from deployments.choices import HostStep
from deployments.models import Revision, Service
from hosts.models import Host
from operations.context import OperationContext
from operations.models import Operation
from operations.services import SECRET_PARAM_NAMES
from tests.integration.container_support import SLEEPER, finished, online_host, unique

VALUE = "s3cret-Value-9f2c"  # the secret's value: must never show up anywhere but the agent
OTHER_VALUE = "an0ther-S3cret-77"
IMAGE = "198.18.0.1:5000/demo/web:v1"

pytestmark = pytest.mark.django_db


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def _stored_value(secret_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM containers_secret WHERE id = %s", [secret_id])
        return cursor.fetchone()[0]


@pytest.fixture
def host(db):
    return Host.objects.create(name="web-host", transport="local")


@pytest.fixture
def operator_client(client, db):
    user = get_user_model().objects.create_user("otto-operator", "", "pw-op-1", is_staff=True)
    client.force_login(user)
    return client


# --- the stored secret ----------------------------------------------------------------------


def test_secret_value_is_ciphertext_in_the_database():
    secret = create_secret(name="db-password", value=VALUE)
    stored = _stored_value(secret.pk)
    assert VALUE not in stored
    assert stored.startswith("gAAAA")  # a Fernet token, like SSH keys and registry passwords
    assert Secret.objects.get(pk=secret.pk).value == VALUE


def test_rotate_encryption_key_re_encrypts_secrets(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.BERTH_ENCRYPTION_KEYS = [old]
    crypto.reset_cache()
    try:
        secret = create_secret(name="db-password", value=VALUE)
        settings.BERTH_ENCRYPTION_KEYS = [new, old]
        crypto.reset_cache()
        call_command("rotate_encryption_key", stdout=io.StringIO())
        settings.BERTH_ENCRYPTION_KEYS = [new]  # the old key dropped: still readable
        crypto.reset_cache()
        assert Secret.objects.get(pk=secret.pk).value == VALUE
        assert VALUE not in _stored_value(secret.pk)
    finally:
        crypto.reset_cache()


def test_api_never_returns_a_secret_value(admin_client):
    created = _post(admin_client, reverse("secret-list"), {"name": "db-password", "value": VALUE})
    assert created.status_code == 201, created.content
    url = reverse("secret-detail", args=[created.json()["id"]])
    responses = [
        created,
        admin_client.get(reverse("secret-list")),
        admin_client.get(url),
        admin_client.patch(url, {"name": "db-pass"}, content_type="application/json"),
        admin_client.patch(url, {"value": OTHER_VALUE}, content_type="application/json"),
        admin_client.options(reverse("secret-list")),
    ]
    for response in responses:
        assert response.status_code < 300, response.content
        assert VALUE.encode() not in response.content
        assert OTHER_VALUE.encode() not in response.content
    listed = responses[1].json()["results"][0]
    assert set(listed) == {
        "id", "url", "name", "unrestricted", "host_groups", "created_at", "updated_at",
        "created_by", "updated_by",
    }  # fmt: skip
    assert listed["created_by"] == "root-admin"
    secret = Secret.objects.get()
    assert (secret.name, secret.value) == ("db-pass", OTHER_VALUE)


def test_only_admins_change_secrets_operators_and_viewers_see_names(operator_client):
    secret = create_secret(name="db-password", value=VALUE)
    url = reverse("secret-detail", args=[secret.pk])
    assert (
        _post(operator_client, reverse("secret-list"), {"name": "x", "value": "y"}).status_code
        == 403
    )
    assert (
        operator_client.patch(url, {"value": "z"}, content_type="application/json").status_code
        == 403
    )
    assert operator_client.delete(url).status_code == 403
    listed = operator_client.get(reverse("secret-list"))
    assert listed.status_code == 200
    assert [row["name"] for row in listed.json()["results"]] == ["db-password"]
    assert Secret.objects.get().value == VALUE


def test_every_secret_change_is_audited_without_the_value():
    secret = create_secret(name="db-password", value=VALUE)
    update_secret(secret, name="db-pass", value=OTHER_VALUE)
    delete_secret(secret)
    records = list(Operation.objects.order_by("pk"))
    assert [record.action for record in records] == [
        "secret.create", "secret.update", "secret.delete",
    ]  # fmt: skip
    assert records[1].params == {
        "name": "db-pass",
        "renamed_from": "db-password",
        "value_changed": True,
    }
    for record in records:
        dumped = json.dumps([record.params, record.result, record.error, record.target_name])
        assert VALUE not in dumped and OTHER_VALUE not in dumped


def test_a_bad_secret_body_is_a_400_naming_the_field(admin_client):
    cases = [
        ({"name": "db-password"}, "value"),
        ({"name": "db password", "value": "x"}, "name"),
        ({"name": "db-password", "value": ""}, "value"),
        ({"name": "db-password", "value": "x", "shared": True}, "shared"),
    ]
    for body, field in cases:
        response = _post(admin_client, reverse("secret-list"), body)
        assert response.status_code == 400, (body, response.content)
        assert field in response.json()["errors"], (body, response.content)
    assert not Secret.objects.exists()


def test_admin_stores_changes_and_deletes_secrets_without_showing_them(admin_client):
    add = reverse("admin:containers_secret_add")
    refused = admin_client.post(add, {"name": "db password", "value": VALUE})
    assert refused.status_code == 200 and "name" in refused.context["adminform"].form.errors
    assert VALUE.encode() not in refused.content
    assert admin_client.post(add, {"name": "db-password", "value": VALUE}).status_code == 302
    secret = Secret.objects.get()
    change = reverse("admin:containers_secret_change", args=[secret.pk])
    pages = [
        admin_client.get(reverse("admin:containers_secret_changelist")),
        admin_client.get(change),
    ]
    form = {"name": "db-pass", "new_value": ""}
    assert admin_client.post(change, form).status_code == 302
    assert Secret.objects.get().value == VALUE  # a blank new value keeps the stored one
    assert (
        admin_client.post(change, {"name": "db-pass", "new_value": OTHER_VALUE}).status_code == 302
    )
    pages.append(admin_client.get(change))
    for page in pages:
        assert page.status_code == 200
        assert VALUE.encode() not in page.content and OTHER_VALUE.encode() not in page.content
    assert (Secret.objects.get().name, Secret.objects.get().value) == ("db-pass", OTHER_VALUE)
    delete = reverse("admin:containers_secret_delete", args=[secret.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not Secret.objects.exists()
    actions = list(Operation.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["secret.create", "secret.update", "secret.update", "secret.delete"]
    trail = json.dumps([list(op.params.values()) for op in Operation.objects.all()])
    assert VALUE not in trail and OTHER_VALUE not in trail


# --- which env names look secret --------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["PASSWORD", "POSTGRES_PASSWORD", "DB_PASS", "mysql_root_passwd", "GITHUB_TOKEN",
     "AWS_SECRET_ACCESS_KEY", "STRIPE_API_KEY", "SENDGRID_APIKEY", "dbPassword",
     "SSH_PRIVATE_KEY", "GOOGLE_CREDENTIALS", "APP.SECRET", "GPG-PASSPHRASE", "ACCESS_KEY"],
)  # fmt: skip
def test_names_that_look_secret(name):
    assert looks_secret(name)


@pytest.mark.parametrize(
    "name",
    ["MODE", "PWD", "PASSENGER_LIMIT", "KEYBOARD", "TOKENIZER", "BYPASS_CACHE", "DATABASE_URL",
     "POSTGRES_PASSWORD_FILE", "API_URL", "PUBLIC_KEY_PATH", "SECRETS_DIR"],
)  # fmt: skip
def test_names_that_do_not_look_secret(name):
    assert not looks_secret(name)


def test_every_name_redaction_hides_is_refused_as_a_plain_env_name():
    # Were one accepted, its value would be shown to viewers even though it is secret.
    for name in SECRET_PARAM_NAMES - {"auth"}:
        assert looks_secret(name.upper()), name


# --- specs: refused, validated, recorded by name -----------------------------------------------


def test_plain_secret_looking_env_is_refused_pointing_at_env_secrets(admin_client, host):
    body = {"image": IMAGE, "env": {"MODE": "x", "POSTGRES_PASSWORD": VALUE}}
    response = _post(admin_client, reverse("host-containers", args=[host.pk]), body)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert list(errors) == ["env.POSTGRES_PASSWORD"]
    assert "env_secrets" in errors["env.POSTGRES_PASSWORD"][0]
    assert VALUE.encode() not in response.content
    assert not Operation.objects.exists()


def test_plain_secret_looking_env_in_a_revision_is_refused(admin_client):
    service = Service.objects.create(name="api")
    body = {"spec": {"image": IMAGE, "env": {"POSTGRES_PASSWORD": VALUE}}}
    response = _post(admin_client, reverse("service-revisions", args=[service.pk]), body)
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["spec.env.POSTGRES_PASSWORD"]
    assert not service.revisions.exists()


def test_unknown_secret_is_a_400_naming_the_variable(admin_client, host):
    service = Service.objects.create(name="api")
    run = _post(
        admin_client,
        reverse("host-containers", args=[host.pk]),
        {"image": IMAGE, "env_secrets": {"DB_PASSWORD": "no-such-secret"}},
    )
    assert run.status_code == 400, run.content
    assert list(run.json()["errors"]) == ["env_secrets.DB_PASSWORD"]
    revision = _post(
        admin_client,
        reverse("service-revisions", args=[service.pk]),
        {"spec": {"image": IMAGE, "env_secrets": {"DB_PASSWORD": "no-such-secret"}}},
    )
    assert revision.status_code == 400, revision.content
    assert list(revision.json()["errors"]) == ["spec.env_secrets.DB_PASSWORD"]
    assert not Operation.objects.filter(action="container.run").exists()


def test_a_variable_in_both_env_and_env_secrets_is_refused(admin_client, host):
    create_secret(name="db-password", value=VALUE)
    response = _post(
        admin_client,
        reverse("host-containers", args=[host.pk]),
        {"image": IMAGE, "env": {"DB_USER": "app"}, "env_secrets": {"DB_USER": "db-password"}},
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["env_secrets.DB_USER"]


def test_run_params_hold_the_spec_exactly_as_given(operator_client, host):
    """Redaction used to rewrite a spec's env (PASSWORD=***), and the handler ran that."""
    create_secret(name="db-password", value=VALUE)
    spec = {
        "image": IMAGE,
        "env": {"AUTH": "ldap", "MODE": "production"},
        "env_secrets": {"PASSWORD": "db-password", "TOKEN": "db-password"},
        "labels": {"token": "not-a-secret"},
    }
    response = _post(operator_client, reverse("host-containers", args=[host.pk]), spec)
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(action="container.run")
    assert operation.params["spec"] == spec


def test_resolve_env_merges_the_values_and_drops_the_names(host):
    create_secret(name="db-password", value=VALUE)
    spec = {"image": IMAGE, "env": {"MODE": "x"}, "env_secrets": {"DB_PASSWORD": "db-password"}}
    resolved = resolve_env(spec, host)
    assert resolved == {"image": IMAGE, "env": {"MODE": "x", "DB_PASSWORD": VALUE}}
    assert spec["env_secrets"] == {"DB_PASSWORD": "db-password"}  # not changed
    assert "DB_PASSWORD" not in spec["env"]
    assert resolve_env({"image": IMAGE, "env_secrets": {}}, host) == {"image": IMAGE}


def test_resolve_env_of_a_deleted_secret_fails_naming_it(host):
    with pytest.raises(MissingSecret, match=r"'db-password'.*DB_PASSWORD"):
        resolve_env({"image": IMAGE, "env_secrets": {"DB_PASSWORD": "db-password"}}, host)


def test_the_revision_page_takes_secrets_by_name_and_refuses_plain_ones(admin_client):
    create_secret(name="db-password", value=VALUE)
    service = Service.objects.create(name="api")
    Revision.objects.create(
        service=service,
        number=1,
        image=IMAGE,
        spec={"image": IMAGE, "env_secrets": {"DB_PASSWORD": "db-password"}},
    )
    url = reverse("frontend:revision-create", args=[service.pk])
    page = admin_client.get(url)
    assert page.context["form"]["env_secrets"].value() == "DB_PASSWORD=db-password"
    form = {"image": IMAGE, "restart_policy": "no", "health_mode": "docker", "note": "two"}
    refused = admin_client.post(url, {**form, "env": f"POSTGRES_PASSWORD={VALUE}"})
    assert refused.status_code == 200
    assert any("env_secrets" in error for error in refused.context["form"].errors["env"])
    unknown = admin_client.post(url, {**form, "env_secrets": "DB_PASSWORD=nope"})
    assert "env_secrets" in unknown.context["form"].errors
    created = admin_client.post(
        url, {**form, "env": "MODE=x", "env_secrets": "POSTGRES_PASSWORD=db-password"}
    )
    assert created.status_code == 302, created.context and created.context["form"].errors
    revision = service.revisions.get(number=2)
    assert revision.spec["env_secrets"] == {"POSTGRES_PASSWORD": "db-password"}
    assert revision.spec["env"] == {"MODE": "x"}


# --- the value never leaks: API, operation, revisions, diff, logs, pages ------------------------


class _RecordingAgent:
    """Stands in for the host's agent: answers a run, and keeps what it was sent."""

    def __init__(self, host):
        self.host = host
        self.sent = []
        self.running = []

    def call(self, op, args, **kwargs):
        self.sent.append((op, args))
        if op == "container.list":
            return self.running
        if op == "image.inspect":
            return {"id": "sha256:" + "a" * 64}
        if op == "container.run":
            summary = {"id": "c" * 64, "name": "api-1", "image": IMAGE, "state": "running"}
            self.running.append(summary)
            return {"summary": summary}
        raise AssertionError(f"unexpected agent op {op}")


def test_secret_value_reaches_only_the_agent(admin_client, host, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    create_secret(name="db-password", value=VALUE)
    create_secret(name="db-password-2", value=OTHER_VALUE)
    agent = _RecordingAgent(host)
    monkeypatch.setattr(container_services, "HostAgent", lambda host, context=None: agent)
    # The host's policy file is written over the same link: tested in test_container_policy.
    monkeypatch.setattr(container_services, "_write_policy", lambda *args, **kwargs: None)

    run = _post(
        admin_client,
        reverse("host-containers", args=[host.pk]),
        {"image": IMAGE, "name": "api-1", "env": {"MODE": "x"},
         "env_secrets": {"DB_PASSWORD": "db-password"}},
    )  # fmt: skip
    assert run.status_code == 202, run.content
    operation = Operation.objects.get(action="container.run")
    result = container_services._run(operation, OperationContext(operation))
    operation.result = result
    operation.save(update_fields=["result"])
    run_args = next(args for op, args in agent.sent if op == "container.run")
    assert run_args["env"] == {"MODE": "x", "DB_PASSWORD": VALUE}
    assert "env_secrets" not in run_args  # the agent refuses keys it does not know
    assert operation.params["spec"]["env_secrets"] == {"DB_PASSWORD": "db-password"}

    service = Service.objects.create(name="api")
    revisions = reverse("service-revisions", args=[service.pk])
    for secret_name in ("db-password", "db-password-2"):
        created = _post(
            admin_client,
            revisions,
            {"spec": {"image": IMAGE, "env_secrets": {"DB_PASSWORD": secret_name}}},
        )
        assert created.status_code == 201, created.content
    container = Container.objects.get()

    answers = [
        admin_client.get(reverse("operation-detail", args=[operation.pk])),
        admin_client.get(reverse("operation-list")),
        admin_client.get(revisions),
        admin_client.get(reverse("service-diff", args=[service.pk]), {"from": 1, "to": 2}),
        admin_client.get(reverse("container-detail", args=[container.pk])),
        admin_client.get(reverse("frontend:operation", args=[operation.pk])),
        admin_client.get(reverse("frontend:operations")),
        admin_client.get(reverse("frontend:service", args=[service.pk])),
        admin_client.get(reverse("frontend:container", args=[container.pk])),
    ]
    for answer in answers:
        assert answer.status_code == 200, (answer, answer.content[:500])
        assert VALUE.encode() not in answer.content
        assert OTHER_VALUE.encode() not in answer.content
    diff = answers[3].json()
    assert {"field": "spec.env_secrets.DB_PASSWORD", "before": "db-password",
            "after": "db-password-2"} in diff  # fmt: skip

    stored = json.dumps(
        [[op.params, op.result, op.progress, op.error] for op in Operation.objects.all()]
        + [revision.spec for revision in service.revisions.all()]
    )
    assert VALUE not in stored and OTHER_VALUE not in stored
    assert VALUE not in caplog.text and OTHER_VALUE not in caplog.text


def test_a_run_whose_secret_was_renamed_fails_without_calling_the_agent(
    admin_client, host, monkeypatch
):
    """A queued run keeps the secret from being deleted (test_secret_in_use), but a
    rename still leaves its spec naming a secret that is gone."""
    secret = create_secret(name="db-password", value=VALUE)
    agent = _RecordingAgent(host)
    monkeypatch.setattr(container_services, "HostAgent", lambda host, context=None: agent)
    # The host's policy file is written over the same link: tested in test_container_policy.
    monkeypatch.setattr(container_services, "_write_policy", lambda *args, **kwargs: None)
    run = _post(
        admin_client,
        reverse("host-containers", args=[host.pk]),
        {"image": IMAGE, "env_secrets": {"DB_PASSWORD": "db-password"}},
    )
    assert run.status_code == 202, run.content
    update_secret(secret, name="pg-password")
    operation = Operation.objects.get(action="container.run")
    with pytest.raises(container_services.OperationFailed, match="db-password"):
        container_services._run(operation, OperationContext(operation))
    assert "container.run" not in [op for op, _ in agent.sent]


def test_a_rollout_sends_the_secret_values_to_the_agent_and_stores_only_names(monkeypatch, caplog):
    """The deploy path: RolloutRunner._agent_deploy resolves env_secrets for
    service.deploy (the agent refuses the env_secrets key) and nothing stores the value."""
    caplog.set_level(logging.DEBUG)
    create_secret(name="db-password", value=VALUE)
    host = Host.objects.create(name="web-host", transport="local")
    service = Service.objects.create(name="api")
    service.hosts.add(host)
    spec = {"image": IMAGE, "env": {"MODE": "x"}, "env_secrets": {"DB_PASSWORD": "db-password"}}
    revision = deployment_services.create_revision(service, spec=spec)
    sent = []

    class _Agent:
        def __init__(self, host):
            self.host = host

        def ensure_live(self):
            """A live link: tested in test_agent_link."""

        def sync_policy(self):
            """The host's policy file: tested in test_container_policy."""

        def call(self, op, args, **kwargs):
            sent.append((op, args))
            return {"container": {"id": "c" * 64, "name": "api-r1"}, "health": "healthy"}

    monkeypatch.setattr(deployment_services, "HostAgent", _Agent)
    monkeypatch.setattr(deployment_services, "_refresh_containers", lambda agent: None)
    rollout = deployment_services.request_deploy(service, revision, actor=None)
    runner = deployment_services.RolloutRunner(rollout, OperationContext(rollout.operation))
    runner._agent_deploy(rollout.hosts.get(), revision)

    [(op, args)] = sent
    assert op == "service.deploy"
    assert args["spec"]["env"] == {"MODE": "x", "DB_PASSWORD": VALUE}
    assert "env_secrets" not in args["spec"]
    revision.refresh_from_db()
    assert revision.spec == spec

    # A secret deleted since the revision was made fails that host, naming it; the
    # agent is not asked.
    Secret.objects.all().delete()
    step = rollout.hosts.get()
    runner._deploy_host(step, revision)
    step.refresh_from_db()
    assert step.step == HostStep.FAILED
    assert "db-password" in step.message
    assert len(sent) == 1
    stored = json.dumps([[o.params, o.result, o.progress] for o in Operation.objects.all()])
    assert VALUE not in stored and VALUE not in caplog.text


# --- on the real fleet ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_container_sees_the_secret_value_and_the_operation_only_its_name(
    admin_client, register, fleet, short_timeouts
):
    fleet_host = fleet["h1"]
    host = online_host(register, fleet_host)
    secret = create_secret(name=unique("secret"), value=VALUE)
    name = unique("secret-env")
    try:
        response = _post(
            admin_client,
            reverse("host-containers", args=[host.pk]),
            {
                "image": f"{fleet.registry}/{SLEEPER}",
                "name": name,
                "env": {"MODE": "test"},
                "env_secrets": {"DB_PASSWORD": secret.name},
            },
        )
        assert response.status_code == 202, response.content
        operation = finished(response.json()["operation"], timeout=180)
        assert operation.status == "succeeded", operation.error

        inspected = fleet_host.docker("inspect", "-f", "{{json .Config.Env}}", name)
        env = dict(item.partition("=")[::2] for item in json.loads(inspected.stdout))
        assert env["DB_PASSWORD"] == VALUE
        assert env["MODE"] == "test"
        assert operation.params["spec"]["env_secrets"] == {"DB_PASSWORD": secret.name}
        assert VALUE not in json.dumps([operation.params, operation.result, operation.progress])
    finally:
        fleet_host.docker("rm", "-f", name, check=False)
