"""Forms of Berth's pages. Validation of container specs and services reuses the API's
serializers, so the page and the API accept and refuse exactly the same input."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from django import forms
from django.utils.safestring import SafeString, mark_safe

from berth.labels import LABEL_KEY
from containers.choices import RestartPolicy
from deployments.api.serializers import (
    HealthGateSerializer,
    ServiceSerializer,
    ServiceSpecSerializer,
)
from deployments.models import NOTE_MAX_LENGTH, Service
from hosts.models import Host, HostGroup, JumpHost, SSHKey
from hosts.validators import HOST_NAME_RULE, validate_host_name
from images.models import RegistryCredential
from networks.validators import DRIVERS as NETWORK_DRIVERS
from volumes.validators import DRIVERS as VOLUME_DRIVERS

MAX_KEY_FILE = 64 * 1024


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _messages(detail: Any, prefix: str = "") -> list[str]:
    """A serializer's error detail (nested dicts and lists) as readable sentences."""
    if isinstance(detail, dict):
        out: list[str] = []
        for key, value in detail.items():
            label = f"line {int(key) + 1}" if isinstance(key, int) or str(key).isdigit() else key
            out += _messages(value, f"{prefix}{label}: " if key != "non_field_errors" else prefix)
        return out
    if isinstance(detail, list):
        out = []
        for index, item in enumerate(detail):
            if isinstance(item, dict | list) and item:
                out += _messages(item, f"{prefix}line {index + 1}: ")
            elif item:
                out += _messages(item, prefix)
        return out
    return [f"{prefix}{detail}"]


class SpecFields(forms.Form):
    """A revision's container spec and health gate, as a person types them."""

    image = forms.CharField(
        max_length=512,
        help_text="registry:5000/repo:tag (the digest is pinned at the first deploy)",
    )
    ports = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='One per line: "8080:80", "127.0.0.1:8080:80/udp" or "80"',
    )
    env = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Environment",
        help_text="One NAME=value per line; shown to every viewer, so no passwords or tokens",
    )
    env_secrets = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Environment from secrets",
        help_text="One NAME=secret-name per line: the variable gets the stored secret's value "
        "when the container starts (admins store secrets)",
    )
    command = forms.CharField(required=False, help_text="Split like a shell would; none runs")
    volumes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='One per line: "/srv/data:/data" or "name:/data:ro"',
    )
    restart_policy = forms.ChoiceField(
        choices=RestartPolicy.choices, initial=RestartPolicy.UNLESS_STOPPED
    )
    restart_max_retries = forms.IntegerField(
        required=False, label="Restart retries", help_text="For on-failure only; empty: no limit"
    )
    advanced = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        label="More settings (JSON)",
        help_text='Spec keys without a field above, as one JSON object, e.g. {"labels": '
        '{"team": "shop"}, "limits": {"memory": "256m"}, "user": "1000"}: labels, '
        "healthcheck, limits, user, privileged, cap_add, devices, network_mode, pid_mode, "
        "ipc_mode, userns_mode, security_opt, sysctls (docs/api.md)",
    )
    health_mode = forms.ChoiceField(
        choices=[
            ("docker", "The image's HEALTHCHECK (or running)"),
            ("http", "HTTP probe"),
            ("tcp", "TCP probe"),
            ("none", "None"),
        ],
        initial="docker",
        label="Health gate",
    )
    health_port = forms.IntegerField(required=False, label="Probe port")
    health_path = forms.CharField(required=False, label="Probe path", initial="/")
    health_timeout_s = forms.IntegerField(
        required=False, label="Health gate timeout (s)", help_text="Empty: Berth's default"
    )
    health_interval_s = forms.FloatField(
        required=False, label="Probe interval (s)", help_text="Empty: Berth's default"
    )
    health_retries = forms.IntegerField(
        required=False, label="Probe retries", help_text="Empty: Berth's default"
    )
    note = forms.CharField(
        required=False, max_length=NOTE_MAX_LENGTH, help_text="What changed, and why"
    )

    # Spec keys with a field of their own; every other key lives in ``advanced``.
    SPEC_FIELDS = {"image", "ports", "env", "env_secrets", "command", "volumes", "restart_policy"}
    HEALTH_EXTRAS = ("timeout_s", "interval_s", "retries")

    def _advanced(self, text: str) -> tuple[dict[str, Any], str | None]:
        """The ``advanced`` JSON object, or why it cannot be one."""
        if not text.strip():
            return {}, None
        try:
            value = json.loads(text)
        except ValueError as exc:
            return {}, f"This is not valid JSON: {exc}."
        if not isinstance(value, dict):
            return {}, 'Write one JSON object: {"key": value, …}.'
        own = sorted(set(value) & self.SPEC_FIELDS)
        if own:
            return {}, f"{own[0]}: set it in its own field above, not here."
        return value, None

    def _spec_data(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        advanced, problem = self._advanced(data.get("advanced") or "")
        spec: dict[str, Any] = {**advanced, "image": data.get("image", "")}
        problems: dict[str, str] = {"advanced": problem} if problem else {}
        if data.get("ports"):
            spec["ports"] = _lines(data["ports"])
        if data.get("volumes"):
            spec["volumes"] = _lines(data["volumes"])
        if data.get("command"):
            spec["command"] = data["command"]
        for field, example in (("env", "NAME=value"), ("env_secrets", "NAME=secret-name")):
            env: dict[str, str] = {}
            for number, line in enumerate(_lines(data.get(field) or ""), start=1):
                name, sep, value = line.partition("=")
                if not sep:
                    problems[field] = f"line {number}: write {example}"
                    break
                env[name.strip()] = value.strip() if field == "env_secrets" else value
            if env:
                spec[field] = env
        spec["restart_policy"] = {"name": data.get("restart_policy") or RestartPolicy.NO}
        if data.get("restart_max_retries") is not None:
            spec["restart_policy"]["max_retries"] = data["restart_max_retries"]
        return spec, problems

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        spec, problems = self._spec_data(data)
        for field, message in problems.items():
            self.add_error(field, message)
        checked = ServiceSpecSerializer(data=spec)
        if checked.is_valid():
            self.spec = dict(checked.validated_data)
        else:
            errors = dict(checked.errors)
            # restart_policy.max_retries is typed in a field of its own.
            restart = errors.get("restart_policy")
            if isinstance(restart, dict) and "max_retries" in restart:
                self._add_serializer_errors(
                    {"restart_max_retries": restart.pop("max_retries")}, {"restart_max_retries"}
                )
                if not restart:
                    errors.pop("restart_policy")
            self._add_serializer_errors(errors, self.SPEC_FIELDS, fallback="advanced")
        health: dict[str, Any] = {"mode": data.get("health_mode") or "docker"}
        if data.get("health_port") is not None:
            health["port"] = data["health_port"]
        if health["mode"] == "http" and data.get("health_path"):
            health["path"] = data["health_path"]
        for key in self.HEALTH_EXTRAS:
            if data.get(f"health_{key}") is not None:
                health[key] = data[f"health_{key}"]
        gate = HealthGateSerializer(data=health)
        if gate.is_valid():
            self.health = dict(gate.validated_data)
        else:
            self._add_serializer_errors(
                {f"health_{key}": value for key, value in gate.errors.items()},
                {"health_mode", "health_port", "health_path"}
                | {f"health_{key}" for key in self.HEALTH_EXTRAS},
            )
        return data

    def _add_serializer_errors(
        self, errors: Any, fields: set[str], fallback: str | None = None
    ) -> None:
        """Put each error next to its field; the others next to ``fallback`` (or on the
        form), prefixed with the key they are about."""
        for key, detail in errors.items():
            field = key if key in fields else None
            for message in _messages(detail):
                self.add_error(field or fallback, message if field else f"{key}: {message}")

    @classmethod
    def initial_from(cls, spec: dict[str, Any], health: dict[str, Any]) -> dict[str, Any]:
        """Form values that reproduce a revision, to start the next one from."""

        def port_text(port: dict[str, Any]) -> str:
            text = f"{port['private']}"
            if port.get("public"):
                text = f"{port['public']}:{text}"
                if port.get("ip"):
                    text = f"{port['ip']}:{text}"
            if port.get("protocol") and port["protocol"] != "tcp":
                text += f"/{port['protocol']}"
            return text

        def volume_text(volume: dict[str, Any]) -> str:
            suffix = ":ro" if volume.get("read_only") else ""
            return f"{volume['source']}:{volume['target']}{suffix}"

        advanced = {key: value for key, value in spec.items() if key not in cls.SPEC_FIELDS}
        restart = spec.get("restart_policy") or {}
        return {
            "image": spec.get("image", ""),
            "ports": "\n".join(port_text(p) for p in spec.get("ports", [])),
            "volumes": "\n".join(volume_text(v) for v in spec.get("volumes", [])),
            "env": "\n".join(f"{k}={v}" for k, v in (spec.get("env") or {}).items()),
            "env_secrets": "\n".join(
                f"{k}={v}" for k, v in (spec.get("env_secrets") or {}).items()
            ),
            "command": " ".join(spec.get("command") or []),
            "restart_policy": restart.get("name", RestartPolicy.NO),
            "restart_max_retries": restart.get("max_retries") or None,
            "advanced": json.dumps(advanced, indent=2, sort_keys=True) if advanced else "",
            "health_mode": health.get("mode", "docker"),
            "health_port": health.get("port"),
            "health_path": health.get("path", "/"),
            **{f"health_{key}": health.get(key) for key in cls.HEALTH_EXTRAS},
        }


class TargetFields(forms.Form):
    """Where a service runs: listed hosts, a group's hosts, hosts whose labels match."""

    hosts = forms.ModelMultipleChoiceField(
        queryset=Host.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Run one container on each of these hosts",
    )
    host_group = forms.ModelChoiceField(
        queryset=HostGroup.objects.order_by("name"),
        required=False,
        to_field_name="name",
        help_text="…and on every host of this group",
    )
    host_label = forms.CharField(
        required=False, help_text="…and on every host whose labels match, e.g. tier=web"
    )

    def target_data(self) -> dict[str, Any]:
        """The targets as the API takes them."""
        data = self.cleaned_data
        return {
            "hosts": [host.pk for host in data.get("hosts") or []],
            "host_group": data["host_group"].name if data.get("host_group") else None,
            "host_label": data.get("host_label", ""),
        }


class ServiceTargetsForm(TargetFields):
    """A service's targets, to change; checked as the API checks them."""

    def __init__(self, *args: Any, service: Service, **kwargs: Any) -> None:
        self.service = service
        kwargs.setdefault(
            "initial",
            {
                "hosts": list(service.hosts.all()),
                "host_group": service.host_group,
                "host_label": service.host_label,
            },
        )
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        checked = ServiceSerializer(instance=self.service, data=self.target_data(), partial=True)
        if checked.is_valid():
            self.changes = {
                name: checked.validated_data[name]
                for name in ("hosts", "host_group", "host_label")
                if name in checked.validated_data
            }
        else:
            for key, problems in checked.errors.items():
                self.add_error(key if key in self.fields else None, problems)
        return data


class ServiceForm(TargetFields, SpecFields):
    """A new service: its name and targets, and its first revision."""

    name = forms.CharField(max_length=63, help_text="Lower-case letters, digits, '.', '_', '-'")

    field_order = ["name", "hosts", "host_group", "host_label"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        service = ServiceSerializer(data={"name": data.get("name", ""), **self.target_data()})
        if service.is_valid():
            self.service = service
        else:
            self._add_serializer_errors(
                service.errors, {"name", "hosts", "host_group", "host_label"}
            )
        if not (data.get("hosts") or data.get("host_group") or data.get("host_label")):
            self.add_error("hosts", "Choose at least one target: hosts, a group or a label.")
        return data


class RevisionForm(SpecFields):
    """The next revision of a service."""


class HostForm(forms.Form):
    """A host to add to the fleet, with the key Berth logs in with."""

    name = forms.CharField(
        max_length=100,
        validators=[validate_host_name],
        help_text=f"{HOST_NAME_RULE[:1].upper()}{HOST_NAME_RULE[1:]}",
    )
    address = forms.CharField(max_length=255, help_text="IP address or DNS name")
    port = forms.IntegerField(min_value=1, max_value=65535, initial=22)
    username = forms.CharField(max_length=64, initial="root")
    private_key = forms.CharField(
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": "-----BEGIN OPENSSH PRIVATE KEY-----"}
        ),
        help_text="Paste the private key, or upload it below. Stored encrypted; never shown again.",
    )
    private_key_file = forms.FileField(required=False, label="…or upload the key file")
    passphrase = forms.CharField(
        required=False, widget=forms.PasswordInput, help_text="If the key has one"
    )
    existing_key = forms.ModelChoiceField(
        queryset=SSHKey.objects.order_by("name"),
        required=False,
        label="…or use a stored key",
    )
    host_key = forms.CharField(
        required=False,
        help_text="The host's public key ('ssh-ed25519 AAAA…'); leave empty to approve it "
        "after the first contact",
    )
    docker_host = forms.CharField(
        required=False, help_text="Where the agent finds dockerd; empty for the default socket"
    )
    jump_host = forms.ModelChoiceField(queryset=JumpHost.objects.order_by("name"), required=False)
    groups = forms.ModelMultipleChoiceField(
        queryset=HostGroup.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    labels = forms.CharField(required=False, help_text="key=value, comma-separated")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if Host.objects.filter(name=name).exists():
            raise forms.ValidationError(f"A host named {name} already exists.")
        return name

    def clean_labels(self) -> dict[str, str]:
        labels: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in self.cleaned_data["labels"].split(","))):
            key, sep, value = item.partition("=")
            if not sep or not LABEL_KEY.match(key.strip()):
                raise forms.ValidationError(f"{item!r}: write labels as key=value, e.g. env=prod.")
            labels[key.strip()] = value.strip()
        return labels

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("private_key_file")
        if upload is not None:
            if upload.size > MAX_KEY_FILE:
                self.add_error("private_key_file", "That file is too large to be an SSH key.")
            else:
                try:
                    data["private_key"] = upload.read().decode()
                except UnicodeDecodeError:
                    self.add_error("private_key_file", "That file is not a text SSH key.")
        if self.needs_key and not data.get("private_key") and not data.get("existing_key"):
            self.add_error("private_key", "Give the private key Berth logs in with.")
        return data

    needs_key = True


class HostEditForm(HostForm):
    """A host as it is, to change: a key given here replaces its key; none keeps it."""

    needs_key = False

    def __init__(self, *args: Any, host: Host, **kwargs: Any) -> None:
        self.host = host
        kwargs.setdefault(
            "initial",
            {
                "name": host.name,
                "address": host.address,
                "port": host.port,
                "username": host.username,
                "host_key": host.host_key,
                "docker_host": host.docker_host,
                "jump_host": host.jump_host,
                "groups": list(host.groups.all()),
                "labels": ", ".join(f"{key}={value}" for key, value in host.labels.items()),
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["private_key"].help_text = (
            "A new key replaces the current one; leave empty to keep it. Stored encrypted; "
            "never shown."
        )
        self.fields["existing_key"].label = "…or switch to a stored key"
        self.fields["host_key"].help_text = (
            "The pinned public key. After a change of address Berth checks the machine "
            "against it; empty it to approve whatever key the host offers next."
        )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if Host.objects.filter(name=name).exclude(pk=self.host.pk).exists():
            raise forms.ValidationError(f"A host named {name} already exists.")
        return name


class PullForm(forms.Form):
    ref = forms.CharField(max_length=512, label="Image", help_text="repo:tag or registry/repo:tag")
    hosts = forms.ModelMultipleChoiceField(
        queryset=Host.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one host."},
    )
    credential = forms.ModelChoiceField(
        queryset=RegistryCredential.objects.order_by("name"),
        required=False,
        help_text="Empty: the stored login for the image's registry, if any",
    )


def attrs_html(attrs: dict[str, Any]) -> str:
    """As Django's ``django/forms/widgets/attrs.html`` writes them."""
    return "".join(
        f" {escape(str(name))}" + ("" if value is True else f'="{escape(str(value))}"')
        for name, value in attrs.items()
        if value is not False
    )


class ManyChoicesSelect(forms.Select):
    """A select that writes the same HTML as Django's templates, without a template
    render per option: it may offer every host of a fleet."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        html = [f'<select name="{escape(str(widget["name"]))}"{attrs_html(widget["attrs"])}>']
        for group_name, group_choices, _ in widget["optgroups"]:
            if group_name:
                html.append(f'\n  <optgroup label="{escape(str(group_name))}">')
            html.extend(
                f'\n  <option value="{escape(str(option["value"]))}"{attrs_html(option["attrs"])}>'
                f"{escape(str(option['label']))}</option>\n"
                for option in group_choices
            )
            if group_name:
                html.append("\n  </optgroup>")
        html.append("\n</select>")  # the renderer strips the last newline
        return mark_safe("".join(html))  # noqa: S308 - every value above is escaped


class PruneForm(forms.Form):
    host = forms.ModelChoiceField(queryset=Host.objects.order_by("name"), widget=ManyChoicesSelect)
    all_unused = forms.BooleanField(
        required=False, label="Every unused image, not only dangling ones"
    )


class NetworkForm(forms.Form):
    """A new Docker network on one host; checked by networks.services.prepare_create,
    as the API's are."""

    host = forms.ModelChoiceField(queryset=Host.objects.order_by("name"))
    name = forms.CharField(max_length=128)
    driver = forms.ChoiceField(choices=[(d, d) for d in NETWORK_DRIVERS], initial="bridge")
    subnet = forms.CharField(max_length=64, required=False, help_text="e.g. 10.20.0.0/24")
    gateway = forms.CharField(max_length=64, required=False)
    ip_range = forms.CharField(max_length=64, required=False, label="IP range")
    parent = forms.CharField(
        max_length=15, required=False, help_text="macvlan / ipvlan: the host interface"
    )
    internal = forms.BooleanField(required=False, label="Internal (no route outside)")
    attachable = forms.BooleanField(required=False)


class NetworkPruneForm(forms.Form):
    host = forms.ModelChoiceField(queryset=Host.objects.order_by("name"))


class VolumeForm(forms.Form):
    """A new Docker volume on one host; checked by volumes.services.prepare_create, as the
    API's are."""

    host = forms.ModelChoiceField(queryset=Host.objects.order_by("name"))
    name = forms.CharField(max_length=255)
    driver = forms.ChoiceField(choices=[(d, d) for d in VOLUME_DRIVERS], initial="local")


class VolumePruneForm(forms.Form):
    host = forms.ModelChoiceField(queryset=Host.objects.order_by("name"))
    all = forms.BooleanField(required=False, label="Every unused volume, not only anonymous ones")
    dry_run = forms.BooleanField(
        required=False, initial=True, label="Dry run: list what would go, remove nothing"
    )


class VolumeMeasureForm(forms.Form):
    host = forms.ModelChoiceField(queryset=Host.objects.order_by("name"))


def _pairs(text: str, field: str) -> dict[str, str]:
    """KEY=VALUE lines (blank lines skipped) as a dict."""
    pairs: dict[str, str] = {}
    for line in _lines(text):
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise forms.ValidationError(f"{line!r}: write one KEY=VALUE a line.")
        pairs[key.strip()] = value
    return pairs


class BuildForm(forms.Form):
    """A build on one host (images.publishing.request_build checks it, as the API's)."""

    host = forms.ModelChoiceField(queryset=Host.objects.order_by("name"), widget=ManyChoicesSelect)
    git_url = forms.CharField(
        max_length=2048,
        required=False,
        label="Git repository",
        help_text="https://, http://, git:// or git@host:path; #branch:folder picks a ref "
        "and folder (without one the engine fetches master). The host clones it.",
    )
    tarball = forms.FileField(
        required=False,
        label="Or a build context (tar file)",
        help_text="plain or gzip/bzip2/xz",
    )
    dockerfile = forms.CharField(
        max_length=1024, required=False, help_text="e.g. docker/app.Dockerfile"
    )
    target = forms.CharField(max_length=256, required=False, help_text="build stage")
    build_args = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="KEY=VALUE a line"
    )
    labels = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="KEY=VALUE a line"
    )
    tags = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="one a line, e.g. 198.18.0.1:5000/team/app:1.2",
    )
    push = forms.BooleanField(required=False, label="Push the tags after the build")
    revision_of = forms.ModelChoiceField(
        queryset=Service.objects.order_by("name"),
        required=False,
        label="Then make a revision of",
        help_text="the first tag's pushed digest becomes the service's next revision",
    )

    def clean_build_args(self) -> dict[str, str]:
        return _pairs(self.cleaned_data["build_args"], "build_args")

    def clean_labels(self) -> dict[str, str]:
        return _pairs(self.cleaned_data["labels"], "labels")

    def clean_tags(self) -> list[str]:
        return _lines(self.cleaned_data["tags"])


class PushForm(forms.Form):
    reference = forms.CharField(
        max_length=512, help_text="registry[:port]/repo:tag; the image is tagged so first"
    )
    revision_of = forms.ModelChoiceField(
        queryset=Service.objects.order_by("name"),
        required=False,
        label="Then make a revision of",
        help_text="the pushed digest becomes the service's next revision",
    )


class TagForm(forms.Form):
    repository = forms.CharField(max_length=255, help_text="e.g. 198.18.0.1:5000/team/app")
    tag = forms.CharField(max_length=128, initial="latest")


class CommitForm(forms.Form):
    repository = forms.CharField(max_length=255, help_text="e.g. 198.18.0.1:5000/team/app")
    tag = forms.CharField(max_length=128, initial="latest")
    message = forms.CharField(max_length=4096, required=False)
    author = forms.CharField(max_length=256, required=False)
    changes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Dockerfile instructions, one a line: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, "
        "ONBUILD, USER, VOLUME, WORKDIR",
    )
    push = forms.BooleanField(required=False, label="Push it after")

    def clean_changes(self) -> list[str]:
        return _lines(self.cleaned_data["changes"])
