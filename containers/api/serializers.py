"""Containers in the API, and the bodies of the container actions.

Every action body is validated here, before anything is queued: a bad value is a
400 naming the field and saying what to give instead.
"""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from containers.choices import SIGNALS, RestartPolicy
from containers.filtersets import ContainerFilterSet
from containers.models import Container
from containers.secrets import looks_secret, missing_secrets
from containers.services import DIFF_PATHS, MAX_DIFF_PATHS, MAX_STOP_TIMEOUT, RUN_KEY_LABEL
from containers.validators import (
    CAPABILITY_RE,
    ENV_KEY_RE,
    NETWORK_NAME_RE,
    SECURITY_OPT_RE,
    SYSCTL_RE,
    USER_RE,
    VOLUME_NAME_RE,
    container_name_problem,
    container_path_problem,
    device_problem,
)
from hosts.models import Host
from images.references import describe_container_images
from images.validators import parse_image_ref
from operations.api.serializers import StrictFieldsMixin

MAX_LOG_TAIL = 10000


class ContainerListSerializer(serializers.ListSerializer):
    def to_representation(self, data: Any) -> list[Any]:
        containers = list(data.all() if hasattr(data, "all") else data)
        describe_container_images(containers)  # a page at once, not a row at a time
        return super().to_representation(containers)


class ContainerSerializer(serializers.HyperlinkedModelSerializer):
    """A container as its host last reported it, with the tag and digest it runs."""

    url = serializers.HyperlinkedIdentityField(view_name="container-detail")
    host: serializers.PrimaryKeyRelatedField[Host] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )
    host_name = serializers.CharField(source="host.name", read_only=True)
    image = serializers.CharField(
        source="shown_image",
        read_only=True,
        help_text="The image as asked for: its tag when known (a service container's "
        "revision), else the reference the container was created with",
    )
    image_digest = serializers.CharField(
        read_only=True,
        help_text='The registry digest (sha256:…) of the image that runs; "" when unknown '
        "(an image built on the host and never pushed)",
    )

    class Meta:
        model = Container
        list_serializer_class = ContainerListSerializer
        fields = [
            "id",
            "url",
            "host",
            "host_name",
            "container_id",
            "name",
            "image",
            "image_digest",
            "image_id",
            "command",
            "state",
            "status",
            "health",
            "labels",
            "ports",
            "created",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Container) -> dict[str, Any]:
        if not hasattr(instance, "image_digest"):  # one container, not a described page
            describe_container_images([instance])
        return super().to_representation(instance)


# --- lifecycle bodies ------------------------------------------------------------------------


class ContainerStopSerializer(StrictFieldsMixin, serializers.Serializer):
    timeout = serializers.IntegerField(
        min_value=0,
        max_value=MAX_STOP_TIMEOUT,
        default=10,
        help_text="Seconds the container gets to exit after SIGTERM before it is killed",
    )


class ContainerRestartSerializer(ContainerStopSerializer):
    pass


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}], "example": "SIGTERM"})
class SignalField(serializers.Field):
    """A signal name (TERM, SIGTERM, sigterm) or number (1-64)."""

    default_error_messages = {
        "invalid": "Give a signal name like SIGTERM, TERM or KILL, or a number from 1 to 64.",
    }

    def to_internal_value(self, data: Any) -> str | int:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int) or (isinstance(data, str) and data.strip().isdigit()):
            number = int(data)
            if 1 <= number <= 64:
                return number
            self.fail("invalid")
        if isinstance(data, str):
            name = data.strip().upper().removeprefix("SIG")
            if name in SIGNALS:
                return f"SIG{name}"
        self.fail("invalid")
        raise AssertionError("unreachable")

    def to_representation(self, value: Any) -> Any:
        return value


class ContainerKillSerializer(StrictFieldsMixin, serializers.Serializer):
    signal = SignalField(default="SIGKILL", help_text="Signal to send (default SIGKILL)")


class ContainerRemoveSerializer(StrictFieldsMixin, serializers.Serializer):
    force = serializers.BooleanField(default=False, help_text="Remove it even if it is running")
    volumes = serializers.BooleanField(
        default=False, help_text="Also remove the container's anonymous volumes"
    )


# --- logs ---------------------------------------------------------------------------------


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["all"]}]})
class TailField(serializers.Field):
    default_error_messages = {
        "invalid": f'Give a number of lines from 0 to {MAX_LOG_TAIL}, or "all".',
    }

    def to_internal_value(self, data: Any) -> int | str:
        if data == "all":
            return "all"
        if isinstance(data, bool):
            self.fail("invalid")
        try:
            number = int(data)
        except (TypeError, ValueError):
            self.fail("invalid")
        if not 0 <= number <= MAX_LOG_TAIL or (isinstance(data, float) and data != number):
            self.fail("invalid")
        return number

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]})
class SinceField(serializers.Field):
    """A point in time: a Unix timestamp or an ISO 8601 date-time."""

    default_error_messages = {
        "invalid": "Give a Unix timestamp (seconds) or an ISO 8601 date-time with a time zone, "
        "like 2025-01-31T12:00:00Z.",
    }

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int | float):
            value = float(data)
        elif isinstance(data, str):
            try:
                value = float(data)
            except ValueError:
                try:
                    moment = datetime.fromisoformat(data.strip().replace("Z", "+00:00"))
                except ValueError:
                    self.fail("invalid")
                if moment.tzinfo is None:
                    self.fail("invalid")
                value = moment.timestamp()
        else:
            self.fail("invalid")
        if not 0 <= value < 2**40:
            self.fail("invalid")
        return value

    def to_representation(self, value: Any) -> Any:
        return value


class ContainerLogsSerializer(StrictFieldsMixin, serializers.Serializer):
    tail = TailField(default=200, help_text=f'Last lines to return: 0-{MAX_LOG_TAIL} or "all"')
    since = SinceField(required=False, help_text="Only lines after this time")
    timestamps = serializers.BooleanField(default=False, help_text="Add each line's time")
    follow = serializers.BooleanField(
        default=False,
        help_text="Stream every new line to the operation's stream (GET …/operations/ID/stream/) "
        "until the operation is cancelled, the container stops or `duration` passes",
    )
    duration = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="With follow: stop after this many seconds (at most BERTH_LOG_FOLLOW_MAX)",
    )

    def validate_duration(self, value: int) -> int:
        limit = int(settings.BERTH_LOG_FOLLOW_MAX)
        if value > limit:
            raise serializers.ValidationError(f"A follow runs for at most {limit} s.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "duration" in attrs and not attrs.get("follow"):
            raise serializers.ValidationError({"duration": "duration applies only with follow."})
        return attrs


class ContainerDiffSerializer(StrictFieldsMixin, serializers.Serializer):
    limit = serializers.IntegerField(
        default=DIFF_PATHS,
        min_value=1,
        max_value=MAX_DIFF_PATHS,
        help_text="List at most this many changed paths (the first by path); every one is counted",
    )


# --- run spec -----------------------------------------------------------------------------


class PortSerializer(StrictFieldsMixin, serializers.Serializer):
    """A published port: ``{"private": 80, "public": 8080}``; also written as "8080:80/tcp"."""

    private = serializers.IntegerField(min_value=1, max_value=65535, help_text="Container port")
    public = serializers.IntegerField(
        min_value=1,
        max_value=65535,
        required=False,
        allow_null=True,
        help_text="Host port (omit for a random one)",
    )
    protocol = serializers.ChoiceField(choices=["tcp", "udp"], default="tcp")
    ip = serializers.IPAddressField(required=False, allow_blank=True, help_text="Host address")


_PORT_STRING_RE = re.compile(
    r"^(?:(?:(?P<ip>\[[0-9A-Fa-f:.]+\]|[0-9.]+):)?(?P<public>\d+)?:)?(?P<private>\d+)"
    r"(?:/(?P<protocol>[a-z]+))?$"
)


@extend_schema_field(PortSerializer)
class PortField(serializers.Field):
    default_error_messages = {
        "invalid": 'Give a port as {{"private": 80, "public": 8080, "protocol": "tcp"}} '
        'or as "8080:80", "127.0.0.1:8080:80/udp" or "80".',
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, str):
            match = _PORT_STRING_RE.match(data.strip())
            if not match:
                self.fail("invalid")
            # The numbers as numbers: the port serializer takes no "80" for 80.
            data = {
                k: int(v) if k in ("public", "private") else v
                for k, v in match.groupdict().items()
                if v
            }
            if "ip" in data:
                data["ip"] = data["ip"].strip("[]")
        if not isinstance(data, dict):
            self.fail("invalid")
        nested = PortSerializer(data=data)
        nested.is_valid(raise_exception=True)
        return {k: v for k, v in nested.validated_data.items() if v not in (None, "")}

    def to_representation(self, value: Any) -> Any:
        return value


class VolumeSerializer(StrictFieldsMixin, serializers.Serializer):
    """A mount: a host path or a named volume at ``target`` in the container."""

    # (DRF's metaclass takes declared fields off the class, so these do not shadow
    # Field.source and Field.read_only at run time.)
    source = serializers.CharField(help_text="Absolute host path, or a volume name")  # type: ignore[assignment]
    target = serializers.CharField(help_text="Absolute path in the container")
    read_only = serializers.BooleanField(default=False)  # type: ignore[assignment]

    def validate_source(self, value: str) -> str:
        if value.startswith("/"):
            problem = container_path_problem(value)
            if problem:
                raise serializers.ValidationError(problem)
        elif not VOLUME_NAME_RE.match(value):
            raise serializers.ValidationError(
                "Give an absolute host path like /srv/data or a volume name (letters, digits, "
                "'_', '.', '-')."
            )
        return value

    def validate_target(self, value: str) -> str:
        problem = container_path_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


@extend_schema_field(VolumeSerializer)
class VolumeField(serializers.Field):
    default_error_messages = {
        "invalid": 'Give a mount as {{"source": "/srv/data", "target": "/data"}} '
        'or as "/srv/data:/data" or "name:/data:ro".',
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, str):
            parts = data.split(":")
            if len(parts) == 3 and parts[2] in ("ro", "rw"):
                data = {"source": parts[0], "target": parts[1], "read_only": parts[2] == "ro"}
            elif len(parts) == 2:
                data = {"source": parts[0], "target": parts[1]}
            else:
                self.fail("invalid")
        if not isinstance(data, dict):
            self.fail("invalid")
        nested = VolumeSerializer(data=data)
        nested.is_valid(raise_exception=True)
        return dict(nested.validated_data)

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(
    {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]}
)
class CommandField(serializers.Field):
    """The command as a list of words, or a string split like a shell would (no shell runs)."""

    default_error_messages = {"invalid": 'Give the command as ["word", …] or as a string.'}

    def to_internal_value(self, data: Any) -> list[str]:
        if isinstance(data, str):
            try:
                words = shlex.split(data)
            except ValueError as exc:
                raise serializers.ValidationError(f"Cannot split the command: {exc}.") from None
        elif isinstance(data, list) and all(isinstance(word, str) for word in data):
            words = list(data)
        else:
            self.fail("invalid")
        if len(words) > 256 or any("\x00" in word or len(word) > 65536 for word in words):
            raise serializers.ValidationError("At most 256 words of at most 64 KiB, without NUL.")
        return words

    def to_representation(self, value: Any) -> Any:
        return value


class RestartPolicySerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.ChoiceField(choices=RestartPolicy.choices, default=RestartPolicy.NO)
    max_retries = serializers.IntegerField(min_value=0, max_value=1000, default=0)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("max_retries") and attrs.get("name") != RestartPolicy.ON_FAILURE:
            raise serializers.ValidationError(
                {"max_retries": "max_retries applies only to the on-failure policy."}
            )
        return attrs


class HealthcheckSerializer(StrictFieldsMixin, serializers.Serializer):
    test = serializers.JSONField(
        help_text='["CMD", "wget", "-q", "http://127.0.0.1/"], ["CMD-SHELL", "…"], ["NONE"], '
        "or a string run with the container's shell"
    )
    interval_s = serializers.FloatField(min_value=0.001, max_value=86400, required=False)
    timeout_s = serializers.FloatField(min_value=0.001, max_value=86400, required=False)
    start_period_s = serializers.FloatField(min_value=0.001, max_value=86400, required=False)
    retries = serializers.IntegerField(min_value=0, max_value=100, required=False)

    def validate_test(self, value: Any) -> list[str]:
        if isinstance(value, str) and value.strip():
            return ["CMD-SHELL", value]
        if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
            raise serializers.ValidationError("Give a list of strings or a shell command string.")
        if not value or value[0] not in ("CMD", "CMD-SHELL", "NONE") or len(value) > 64:
            raise serializers.ValidationError('The list starts with "CMD", "CMD-SHELL" or "NONE".')
        if value[0] != "NONE" and len(value) < 2:
            raise serializers.ValidationError(f"Give a command after {value[0]}.")
        return value


_MEMORY_RE = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[bkmgt]?)i?b?$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
MIN_MEMORY = 6 * 1024 * 1024


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "example": "512m"}]})
class MemoryField(serializers.Field):
    default_error_messages = {
        "invalid": 'Give a memory limit in bytes or with a unit, like "512m" or "2g" '
        "(at least 6 MiB).",
    }

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            value = data
        elif isinstance(data, str) and (match := _MEMORY_RE.match(data.strip())):
            value = int(float(match["number"]) * _MEMORY_UNITS[match["unit"].lower()])
        else:
            self.fail("invalid")
        if not MIN_MEMORY <= value <= 2**50:
            self.fail("invalid")
        return value

    def to_representation(self, value: Any) -> Any:
        return value


class StringField(serializers.CharField):
    """A CharField that takes only a JSON string: 1000 is not "1000". StrictFieldsMixin
    checks a body's fields and their items so; this field keeps to it wherever it is used
    (a spec's env and labels, a bulk filter, the security settings)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("Give text (a JSON string).")
        return str(super().to_internal_value(data))


class JSONBooleanField(serializers.BooleanField):
    """true or false only: BooleanField also takes "yes", "on" and 1."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise serializers.ValidationError("Give true or false.")
        return data


class LimitsSerializer(StrictFieldsMixin, serializers.Serializer):
    memory = MemoryField(required=False)
    cpus = serializers.FloatField(min_value=0.01, max_value=1024, required=False)


class ContainerRunSerializer(StrictFieldsMixin, serializers.Serializer):
    """A container to create and start on a host (the agent's ``container.run`` spec).

    The image is pulled first when the host does not have it.
    """

    image = serializers.CharField(
        max_length=512, trim_whitespace=False, help_text="registry:5000/repo:tag or …@sha256:…"
    )
    name = serializers.CharField(
        required=False, help_text="Container name (Docker picks one if omitted)"
    )
    command = CommandField(required=False)
    env = serializers.DictField(
        child=StringField(allow_blank=True, trim_whitespace=False, max_length=65536),
        required=False,
        help_text='{"NAME": "value"}, recorded and shown as given: a name that looks secret '
        "(PASSWORD, TOKEN, API_KEY, …) is refused; give such a value in env_secrets",
    )
    env_secrets = serializers.DictField(
        child=StringField(max_length=100),
        required=False,
        help_text='{"NAME": "secret-name"}: the variable takes the value of the stored secret '
        "(GET /api/v1/secrets/), looked up by the worker when it starts the container; the "
        "spec holds only the secret's name",
    )
    ports = serializers.ListField(child=PortField(), required=False, max_length=100)
    volumes = serializers.ListField(child=VolumeField(), required=False, max_length=100)
    restart_policy = RestartPolicySerializer(required=False)
    labels = serializers.DictField(
        child=StringField(allow_blank=True, trim_whitespace=False, max_length=65536),
        required=False,
    )
    healthcheck = HealthcheckSerializer(required=False)
    limits = LimitsSerializer(required=False)
    # What only a container security policy toggle allows (docs/security.md); the
    # values are checked here, whether they are allowed in policies/services.py.
    privileged = JSONBooleanField(
        required=False, help_text="Privileged mode (policy: allow_privileged)"
    )
    cap_add = serializers.ListField(
        child=StringField(max_length=4096),
        required=False,
        max_length=64,
        help_text='Linux capabilities to add, like ["NET_ADMIN"] (policy: allow_cap_add)',
    )
    devices = serializers.ListField(
        child=StringField(max_length=4096),
        required=False,
        max_length=64,
        help_text='Host devices, "/dev/host[:/dev/container[:rwm]]" (policy: allow_devices)',
    )
    network_mode = StringField(
        max_length=255,
        required=False,
        help_text='"bridge", "none", a network\'s name, or "host" (policy: allow_host_network)',
    )
    pid_mode = serializers.ChoiceField(
        choices=["host"], required=False, help_text='"host" (policy: allow_host_pid)'
    )
    ipc_mode = serializers.ChoiceField(
        choices=["private", "shareable", "none", "host"],
        required=False,
        help_text='"private", "shareable", "none" or "host" (policy: allow_host_ipc)',
    )
    userns_mode = serializers.ChoiceField(
        choices=["host"], required=False, help_text='"host" (policy: allow_host_userns)'
    )
    security_opt = serializers.ListField(
        child=StringField(max_length=4096),
        required=False,
        max_length=16,
        help_text='Like ["no-new-privileges"]; ones that turn confinement off '
        "(seccomp=unconfined, apparmor=unconfined, label=disable, systempaths=unconfined) "
        "need the policy's allow_unconfined",
    )
    sysctls = serializers.DictField(
        child=StringField(max_length=4096),
        required=False,
        help_text='Kernel parameters, {"net.core.somaxconn": "1024"} (policy: allow_sysctls)',
    )
    user = StringField(
        max_length=255,
        required=False,
        trim_whitespace=False,
        help_text='The user to run as, "uid[:gid]" or "name[:group]"; when the policy '
        'refuses root (allow_root_user off) a numeric non-root uid, like "1000"',
    )
    policy_override = serializers.BooleanField(
        required=False,
        write_only=True,
        help_text="Admins only: run even though the container security policy refuses a "
        "bind mount or a setting (never a bind on the hard deny list); recorded in the "
        "operation",
    )

    def validate_image(self, value: str) -> str:
        try:
            parse_image_ref(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        if value != value.strip():
            raise serializers.ValidationError("An image reference cannot contain spaces.")
        return value

    def validate_name(self, value: str) -> str:
        problem = container_name_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_env(self, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 1000:
            raise serializers.ValidationError("At most 1000 variables.")
        for key, item in value.items():
            if not ENV_KEY_RE.match(key):
                raise serializers.ValidationError(
                    f"{key[:100]!r} is not a variable name (letters, digits, '_', '.', '-', "
                    "not starting with a digit)."
                )
            if "\x00" in item:
                raise serializers.ValidationError(f"{key} must not contain NUL characters.")
        secret_looking = [key for key in value if looks_secret(key)]
        if secret_looking:
            # Plain env is recorded in the operation and the revision for every viewer.
            raise serializers.ValidationError(
                {
                    key: f"{key} looks like it holds a secret, and env values are shown to "
                    f'every viewer: store the value as a secret and give "env_secrets": '
                    f'{{"{key}": "<secret name>"}} instead.'
                    for key in secret_looking
                }
            )
        return value

    def validate_env_secrets(self, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 1000:
            raise serializers.ValidationError("At most 1000 variables.")
        bad = [key for key in value if not ENV_KEY_RE.match(key)]
        if bad:
            raise serializers.ValidationError(
                f"{bad[0][:100]!r} is not a variable name (letters, digits, '_', '.', '-', "
                "not starting with a digit)."
            )
        missing = missing_secrets(set(value.values()))
        if missing:
            raise serializers.ValidationError(
                {
                    key: f"There is no secret named {name!r}; an admin stores it first "
                    "(POST /api/v1/secrets/)."
                    for key, name in value.items()
                    if name in missing
                }
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if attrs.get("network_mode") == "host" and attrs.get("ports"):
            raise serializers.ValidationError(
                {
                    "ports": 'With network_mode "host" the container uses the host\'s ports '
                    "directly: publishing ports does nothing, leave ports out."
                }
            )
        both = sorted(set(attrs.get("env") or {}) & set(attrs.get("env_secrets") or {}))
        if both:
            raise serializers.ValidationError(
                {f"env_secrets.{both[0]}": f"{both[0]} is set in env too; give it once."}
            )
        return attrs

    def validate_labels(self, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 1000:
            raise serializers.ValidationError("At most 1000 labels.")
        for key in value:
            if not key or len(key) > 256 or "\x00" in key:
                raise serializers.ValidationError("Label keys are 1-256 characters.")
            if key == RUN_KEY_LABEL:
                raise serializers.ValidationError(f"{RUN_KEY_LABEL} is set by Berth.")
        return value

    def validate_ports(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: set[tuple[str, int, str]] = set()
        for port in value:
            if port.get("public") is None:
                continue
            ip = port.get("ip") or "0.0.0.0"  # noqa: S104 - Docker's default bind address
            key = (ip, port["public"], port["protocol"])
            wildcard = ("0.0.0.0", port["public"], port["protocol"])  # noqa: S104
            if key in seen or wildcard in seen or (ip == "0.0.0.0" and _any_ip(seen, key)):  # noqa: S104
                raise serializers.ValidationError(
                    f"Host port {port['public']}/{port['protocol']} is published twice."
                )
            seen.add(key)
        return value

    def validate_cap_add(self, value: list[str]) -> list[str]:
        for cap in value:
            if not CAPABILITY_RE.match(cap):
                raise serializers.ValidationError(
                    f"{cap[:100]!r} is not a capability name: give names like NET_ADMIN or "
                    "CAP_NET_ADMIN (upper case letters, digits and '_')."
                )
        return value

    def validate_devices(self, value: list[str]) -> list[str]:
        for device in value:
            problem = device_problem(device)
            if problem:
                raise serializers.ValidationError(f"{device[:200]!r}: {problem}")
        return value

    def validate_network_mode(self, value: str) -> str:
        if value not in ("bridge", "none", "host") and not NETWORK_NAME_RE.match(value):
            raise serializers.ValidationError(
                'Give "bridge", "none", "host" or a network\'s name (letters, digits, "_", '
                '".", "-"); joining another container\'s network is not supported.'
            )
        return value

    def validate_security_opt(self, value: list[str]) -> list[str]:
        for opt in value:
            if not SECURITY_OPT_RE.match(opt):
                raise serializers.ValidationError(
                    f"{opt[:200]!r} is not a supported option: give no-new-privileges, "
                    "apparmor=<profile>, seccomp=unconfined, label=<…> or "
                    "systempaths=unconfined."
                )
        return value

    def validate_sysctls(self, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 64:
            raise serializers.ValidationError("At most 64 sysctls.")
        for key in value:
            if not SYSCTL_RE.match(key):
                raise serializers.ValidationError(
                    f"{key[:100]!r} is not a sysctl name, like net.core.somaxconn."
                )
        return value

    def validate_user(self, value: str) -> str:
        if not USER_RE.match(value):
            raise serializers.ValidationError(
                'Give a user as "uid[:gid]" or "name[:group]", like "1000" or "1000:1000".'
            )
        return value

    def to_agent_args(self) -> dict[str, Any]:
        """The validated spec as the agent's ``container.run`` arguments, with
        ``env_secrets`` still by name (``containers.secrets.resolve_env`` resolves them
        in the worker)."""
        return {
            k: v for k, v in self.validated_data.items() if v is not None and k != "policy_override"
        }


def _any_ip(seen: set[tuple[str, int, str]], key: tuple[str, int, str]) -> bool:
    return any(port == key[1] and proto == key[2] for _, port, proto in seen)


class ContainerBulkSerializer(StrictFieldsMixin, serializers.Serializer):
    """One action on many containers: pick them by ``ids``, by ``filter`` (the same
    filters as ``GET /containers/``, e.g. ``{"label": "app=web"}``), or every container
    you can see with ``"all": true``. A filter that would select every container is
    refused unless ``"all": true`` confirms it; unknown fields and filter keys are a 400."""

    action = serializers.ChoiceField(choices=["start", "stop", "restart", "kill", "remove"])
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=False,
        help_text="These containers (at least one id)",
    )
    filter = serializers.DictField(
        child=StringField(),
        required=False,
        help_text="The containers GET /containers/ lists with these filters: "
        + ", ".join(ContainerFilterSet.base_filters),
    )
    all = serializers.BooleanField(
        default=False,
        help_text="Act on every container you can see (alone), or confirm that the filter "
        "may match all of them",
    )
    timeout = serializers.IntegerField(min_value=0, max_value=600, required=False)
    signal = SignalField(required=False)
    force = serializers.BooleanField(required=False)
    volumes = serializers.BooleanField(required=False)

    def validate_filter(self, value: dict[str, str]) -> dict[str, str]:
        known = ContainerFilterSet.base_filters
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise serializers.ValidationError(
                {
                    key: "Not a container filter; use one of " + ", ".join(known) + "."
                    for key in unknown
                }
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "ids" in attrs and "filter" in attrs:
            raise serializers.ValidationError("Choose the containers with either ids or filter.")
        if "ids" in attrs and attrs["all"]:
            raise serializers.ValidationError({"all": "Give ids or all, not both."})
        if "ids" not in attrs and not attrs.get("filter") and not attrs["all"]:
            raise serializers.ValidationError(
                'Choose the containers: ids, a filter, or "all": true for every container.'
            )
        allowed = {
            "start": set(),
            "stop": {"timeout"},
            "restart": {"timeout"},
            "kill": {"signal"},
            "remove": {"force", "volumes"},
        }[attrs["action"]]
        extra = {"timeout", "signal", "force", "volumes"} & attrs.keys() - allowed
        if extra:
            raise serializers.ValidationError(
                {name: f"not an option of {attrs['action']}" for name in extra}
            )
        return attrs
