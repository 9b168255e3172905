"""Container ops: list, inspect, lifecycle, logs, stats, the writable layer (diff) and run
(create + start)."""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import posixpath
import re
from typing import Any

from berth_agent import docker_client, policy
from berth_agent.context import OpContext
from berth_agent.ops.common import iso_to_unix
from berth_agent.protocol import InvalidArgument
from berth_agent.validation import (
    NAME_RE,
    check_keys,
    check_str,
    container_ref,
    image_ref,
    opt_bool,
    opt_int,
    opt_number,
    str_dict,
    str_list,
)

MAX_LOG_LINE = 64 * 1024
MAX_LOG_LINES = 10000
# What one logs call returns (or a follow streams), counted as the lines' bytes plus a
# newline each: a huge log must not become a huge answer for the worker to hold.
MAX_LOG_BYTES = 1024 * 1024
LOG_BYTES_LIMIT = 16 * 1024 * 1024
SIGNALS = frozenset(
    [
        "HUP",
        "INT",
        "QUIT",
        "ILL",
        "TRAP",
        "ABRT",
        "BUS",
        "FPE",
        "KILL",
        "USR1",
        "SEGV",
        "USR2",
        "PIPE",
        "ALRM",
        "TERM",
        "STKFLT",
        "CHLD",
        "CONT",
        "STOP",
        "TSTP",
        "TTIN",
        "TTOU",
        "URG",
        "XCPU",
        "XFSZ",
        "VTALRM",
        "PROF",
        "WINCH",
        "IO",
        "POLL",
        "PWR",
        "SYS",
    ]
)
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,254}$")
_NS = 1_000_000_000


def _health_from_status(status: str) -> str | None:
    if "(healthy)" in status:
        return "healthy"
    if "(unhealthy)" in status:
        return "unhealthy"
    if "(health: starting)" in status:
        return "starting"
    return None


def _summary_from_list(c: dict[str, Any]) -> dict[str, Any]:
    names = c.get("Names") or []
    status = c.get("Status") or ""
    return {
        "id": c.get("Id"),
        "name": names[0].lstrip("/") if names else None,
        "image": c.get("Image"),
        "image_id": c.get("ImageID"),
        "command": c.get("Command"),
        "state": c.get("State"),
        "status": status,
        "health": _health_from_status(status),
        "labels": c.get("Labels") or {},
        "ports": [
            {
                "ip": p.get("IP"),
                "private": p.get("PrivatePort"),
                "public": p.get("PublicPort"),
                "type": p.get("Type"),
            }
            for p in c.get("Ports") or []
        ],
        "created": c.get("Created"),
    }


def summary_from_inspect(a: dict[str, Any]) -> dict[str, Any]:
    """The list-shaped summary of a container, built from its inspect attrs."""
    state = a.get("State") or {}
    config = a.get("Config") or {}
    ports = []
    for key, bindings in sorted(((a.get("NetworkSettings") or {}).get("Ports") or {}).items()):
        private, _, proto = key.partition("/")
        for b in bindings or [None]:
            ports.append(
                {
                    "ip": b.get("HostIp") if b else None,
                    "private": int(private),
                    "public": int(b["HostPort"]) if b and b.get("HostPort") else None,
                    "type": proto or "tcp",
                }
            )
    health = (state.get("Health") or {}).get("Status")
    return {
        "id": a.get("Id"),
        "name": (a.get("Name") or "").lstrip("/"),
        "image": config.get("Image"),
        "image_id": a.get("Image"),
        "command": " ".join([a.get("Path") or "", *list(a.get("Args") or [])]).strip(),
        "state": state.get("Status"),
        "status": state.get("Status"),
        "health": health if health in ("healthy", "unhealthy", "starting") else None,
        "labels": config.get("Labels") or {},
        "ports": ports,
        "created": iso_to_unix(a.get("Created")),
        "started_at": iso_to_unix(state.get("StartedAt")),
        "finished_at": iso_to_unix(state.get("FinishedAt")),
        "exit_code": state.get("ExitCode"),
        "restart_count": a.get("RestartCount"),
    }


def list_containers(ctx: OpContext, args: dict) -> list[dict[str, Any]]:
    check_keys(args, {"all"})
    show_all = opt_bool(args, "all", True)
    return [_summary_from_list(c) for c in docker_client.api().containers(all=show_all)]


def inspect(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"id"})
    attrs = docker_client.api().inspect_container(container_ref(args))
    return {"summary": summary_from_inspect(attrs), "attrs": attrs}


def _after(api: Any, ref: str) -> dict[str, Any]:
    return summary_from_inspect(api.inspect_container(ref))


def start(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"id"})
    ref = container_ref(args)
    api = docker_client.api()
    api.start(ref)
    return _after(api, ref)


def stop(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"id", "timeout"})
    ref = container_ref(args)
    timeout = opt_int(args, "timeout", 10, 0, 3600)
    api = docker_client.api()
    api.stop(ref, timeout=timeout)
    return _after(api, ref)


def restart(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"id", "timeout"})
    ref = container_ref(args)
    timeout = opt_int(args, "timeout", 10, 0, 3600)
    api = docker_client.api()
    api.restart(ref, timeout=timeout)
    return _after(api, ref)


def _signal(args: dict) -> str | int:
    value = args.get("signal", "KILL")
    if isinstance(value, int) and not isinstance(value, bool):
        if 1 <= value <= 64:
            return value
        raise InvalidArgument("args.signal must be between 1 and 64")
    if isinstance(value, str):
        name = value.upper()
        name = name.removeprefix("SIG")
        if name in SIGNALS:
            return "SIG" + name
    raise InvalidArgument("args.signal must be a signal name like TERM or SIGKILL, or 1-64")


def kill(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"id", "signal"})
    ref = container_ref(args)
    sig = _signal(args)
    api = docker_client.api()
    api.kill(ref, signal=sig)
    return _after(api, ref)


def remove(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"id", "force", "volumes"})
    ref = container_ref(args)
    force = opt_bool(args, "force", False)
    volumes = opt_bool(args, "volumes", False)
    docker_client.api().remove_container(ref, v=volumes, force=force)
    return {"id": ref, "removed": True}


# --- logs -------------------------------------------------------------------------------


def _read_exact(raw: Any, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = raw.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _frames(raw: Any, tty: bool) -> Any:
    """Yield (stream name, bytes) from a logs response (multiplexed unless it has a TTY)."""
    if tty:
        read1 = getattr(raw, "read1", None)
        while True:
            chunk = read1(4096) if read1 else raw.read(1)
            if not chunk:
                return
            yield "stdout", chunk
    while True:
        header = _read_exact(raw, 8)
        if header is None:
            return
        length = int.from_bytes(header[4:8], "big")
        if not length:
            continue
        data = _read_exact(raw, length)
        if data is None:
            return
        yield ("stderr" if header[0] == 2 else "stdout"), data


def _log_entry(text: bytes, stream: str, timestamps: bool) -> dict[str, Any]:
    line = text.rstrip(b"\r").decode("utf-8", "replace")
    entry: dict[str, Any] = {"line": line, "stream": stream}
    if timestamps:
        ts, sep, rest = line.partition(" ")
        if sep:
            entry = {"line": rest, "stream": stream, "time": ts}
    return entry


def logs(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"id", "tail", "since", "timestamps", "follow", "max_bytes"})
    ref = container_ref(args)
    # "all" asks the engine for one line more than is ever kept, so "truncated" can
    # still tell, and the engine reads only the end of a huge log, never all of it.
    tail = (
        MAX_LOG_LINES + 1
        if args.get("tail") == "all"
        else opt_int(args, "tail", 200, 0, MAX_LOG_LINES)
    )
    max_bytes = opt_int(args, "max_bytes", MAX_LOG_BYTES, MAX_LOG_LINE, LOG_BYTES_LIMIT)
    assert max_bytes is not None  # it has a default
    since = opt_number(args, "since", 0, 2**40)
    timestamps = opt_bool(args, "timestamps", False)
    follow = opt_bool(args, "follow", False)

    api = docker_client.api()
    attrs = api.inspect_container(ref)
    tty = bool((attrs.get("Config") or {}).get("Tty"))
    params: dict[str, Any] = {
        "stdout": 1,
        "stderr": 1,
        "timestamps": int(timestamps),
        "follow": int(follow),
        "tail": str(tail),
    }
    if since:
        params["since"] = str(int(since)) if since == int(since) else f"{since:.9f}"
    url = api._url("/containers/{0}/logs", attrs["Id"])
    res = api._get(url, params=params, stream=True)
    api._raise_for_status(res)
    ctx.on_cancel(lambda: docker_client.close_response(res))
    if follow:
        # A quiet container must not hit the client's read timeout while we follow it.
        api._disable_socket_timeout(api._get_raw_response_socket(res))

    # (entry, its size): the newest lines, at most MAX_LOG_LINES and max_bytes of them.
    collected: collections.deque = collections.deque()
    size = 0  # of what is collected, or (following) of what was streamed
    count = 0
    truncated = False
    pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def emit(text: bytes, stream: str) -> None:
        nonlocal count, size, truncated
        entry = _log_entry(text, stream, timestamps)
        cost = len(entry["line"].encode("utf-8")) + len(entry.get("time", "")) + 1
        if follow:
            if size + cost > max_bytes:
                truncated = True
                return
            count += 1
            size += cost
            ctx.progress(entry)
            return
        count += 1
        collected.append((entry, cost))
        size += cost
        while len(collected) > MAX_LOG_LINES or size > max_bytes:
            size -= collected.popleft()[1]
            truncated = True

    try:
        for stream, data in _frames(res.raw, tty):
            buf = pending[stream] + data
            *complete, rest = buf.split(b"\n")
            for text in complete:
                emit(text[:MAX_LOG_LINE], stream)
            while len(rest) > MAX_LOG_LINE:
                emit(rest[:MAX_LOG_LINE], stream)
                rest = rest[MAX_LOG_LINE:]
            pending[stream] = rest
            if ctx.cancelled or (follow and truncated):
                break
    except Exception:
        if not ctx.cancelled:
            raise
    finally:
        res.close()
    ctx.check_cancelled()
    for stream, rest in pending.items():
        if rest and not (follow and truncated):
            emit(rest, stream)
    if follow:
        if truncated:
            return {"lines": count, "ended": f"stopped at {max_bytes} bytes", "truncated": True}
        return {"lines": count, "ended": "container stopped"}
    return {"lines": [entry for entry, _ in collected], "truncated": truncated}


# --- stats ------------------------------------------------------------------------------


def stats(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, {"id"})
    ref = container_ref(args)
    s = docker_client.api().stats(ref, stream=False)
    cpu = s.get("cpu_stats") or {}
    pre = s.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
        pre.get("cpu_usage") or {}
    ).get("total_usage", 0)
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    ncpu = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    cpu_percent = (cpu_delta / sys_delta) * (ncpu or 1) * 100.0 if sys_delta > 0 else 0.0
    mem = s.get("memory_stats") or {}
    mstats = mem.get("stats") or {}
    # As the docker CLI does: page cache is not used memory (v1: cache, v2: inactive_file).
    cache = mstats.get("total_inactive_file", mstats.get("inactive_file", mstats.get("cache", 0)))
    usage = max((mem.get("usage") or 0) - (cache or 0), 0)
    limit = mem.get("limit") or 0
    rx = tx = 0
    for net in (s.get("networks") or {}).values():
        rx += net.get("rx_bytes", 0)
        tx += net.get("tx_bytes", 0)
    return {
        "id": s.get("id"),
        "name": (s.get("name") or "").lstrip("/"),
        "read": s.get("read"),
        "cpu_percent": round(max(cpu_percent, 0.0), 2),
        "mem_usage": usage,
        "mem_limit": limit,
        "mem_percent": round(usage / limit * 100.0, 2) if limit else 0.0,
        "net_rx_bytes": rx,
        "net_tx_bytes": tx,
        "pids": (s.get("pids_stats") or {}).get("current"),
    }


# --- the writable layer -----------------------------------------------------------------

# Docker's change kinds (`docker diff`: C, A, D).
CHANGE_KINDS = {0: "changed", 1: "added", 2: "deleted"}
DIFF_PATHS = 1000
MAX_DIFF_PATHS = 10000


def diff(ctx: OpContext, args: dict) -> dict[str, Any]:
    """The container's writable layer: its size and the paths changed, added and deleted
    since it was created (the first ``limit`` by path; ``truncated`` if there are more)."""
    check_keys(args, {"id", "limit"})
    ref = container_ref(args)
    limit = opt_int(args, "limit", DIFF_PATHS, 1, MAX_DIFF_PATHS)
    assert limit is not None  # it has a default
    api = docker_client.api()
    # size=1: the engine measures the writable layer (SizeRw) and the whole root fs.
    attrs = api._result(api._get(api._url("/containers/{0}/json", ref), params={"size": 1}), True)
    changes = api.diff(attrs["Id"]) or []
    counts = {"added": 0, "changed": 0, "deleted": 0}
    paths = []
    for change in changes:
        kind = CHANGE_KINDS.get(change.get("Kind"))
        if kind is None or not isinstance(change.get("Path"), str):
            continue
        counts[kind] += 1
        paths.append({"path": change["Path"], "kind": kind})
    paths.sort(key=lambda c: c["path"])
    size_rw, size_root_fs = attrs.get("SizeRw"), attrs.get("SizeRootFs")
    return {
        "id": attrs.get("Id"),
        "name": (attrs.get("Name") or "").lstrip("/"),
        "state": (attrs.get("State") or {}).get("Status"),
        "size_rw": size_rw if isinstance(size_rw, int) and size_rw >= 0 else None,
        "size_root_fs": size_root_fs if isinstance(size_root_fs, int) else None,
        "counts": counts,
        "total": len(paths),
        "changes": paths[:limit],
        "truncated": len(paths) > limit,
    }


# --- run --------------------------------------------------------------------------------


def _abs_path(value: Any, what: str) -> str:
    path = check_str(value, what, 4096)
    if not path.startswith("/"):
        raise InvalidArgument(f"{what} must be an absolute path")
    if ":" in path or "," in path or posixpath.normpath(path) != path or path.startswith("//"):
        raise InvalidArgument(f"{what} must be a normalized absolute path without ':' or ','")
    return path


def _ports(value: Any) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    if not isinstance(value, list) or len(value) > 100:
        raise InvalidArgument("args.ports must be a list of at most 100 port objects")
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for i, p in enumerate(value):
        where = f"args.ports[{i}]"
        if not isinstance(p, dict):
            raise InvalidArgument(f"{where} must be an object")
        check_keys(p, {"private", "public", "protocol", "ip"}, where)
        if "private" not in p:
            raise InvalidArgument(f"{where}.private is required")
        private = opt_int(p, "private", None, 1, 65535, where)
        public = opt_int(p, "public", None, 1, 65535, where)
        proto = p.get("protocol", "tcp")
        if proto not in ("tcp", "udp"):
            raise InvalidArgument(f"{where}.protocol must be 'tcp' or 'udp'")
        ip = p.get("ip") or ""
        if ip:
            try:
                ip = str(ipaddress.ip_address(check_str(ip, f"{where}.ip", 64)))
            except ValueError:
                raise InvalidArgument(f"{where}.ip must be an IP address") from None
        key = f"{private}/{proto}"
        exposed[key] = {}
        bindings.setdefault(key, []).append(
            {"HostIp": ip, "HostPort": str(public) if public else ""}
        )
    return exposed, bindings


def _volumes(value: Any) -> list[str]:
    """Docker's Binds (policy.check_spec checks every host path against the policy)."""
    if not isinstance(value, list) or len(value) > 100:
        raise InvalidArgument("args.volumes must be a list of at most 100 volume objects")
    binds = []
    for i, v in enumerate(value):
        where = f"args.volumes[{i}]"
        if not isinstance(v, dict):
            raise InvalidArgument(f"{where} must be an object")
        check_keys(v, {"source", "target", "read_only"}, where)
        source = v.get("source")
        if isinstance(source, str) and source.startswith("/"):
            source = _abs_path(source, f"{where}.source")
        elif not isinstance(source, str) or not _VOLUME_NAME_RE.match(source):
            raise InvalidArgument(f"{where}.source must be an absolute path or a volume name")
        target = _abs_path(v.get("target"), f"{where}.target")
        ro = opt_bool(v, "read_only", False, where)
        binds.append(f"{source}:{target}:{'ro' if ro else 'rw'}")
    return binds


# What only a policy toggle allows (policy.check_spec); the same grammar as the
# server's (containers/validators.py), so a value it accepts is never refused here.
_CAPABILITY_RE = re.compile(r"^(?:CAP_)?(?!CAP_)[A-Z][A-Z0-9_]{0,63}$")
_NETWORK_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")
_SECURITY_OPT_RE = re.compile(
    r"^(?:no-new-privileges(?:[:=](?:true|false))?"
    r"|apparmor[:=][A-Za-z0-9_.-]{1,255}"
    r"|seccomp[:=]unconfined"
    r"|label[:=](?:disable|(?:user|role|type|level):[A-Za-z0-9_.:-]{1,255})"
    r"|systempaths=unconfined)$"
)
_SYSCTL_RE = re.compile(r"^[a-z][a-z0-9_]*(?:[./][a-zA-Z0-9_-]+){1,15}$")
_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?$")
_IPC_MODES = ("private", "shareable", "none", "host")


def _matching(value: Any, what: str, pattern: re.Pattern[str], hint: str, most: int) -> list[str]:
    items = str_list(value, what, most)
    for i, item in enumerate(items):
        if not pattern.match(item):
            raise InvalidArgument(f"{what}[{i}] {item[:100]!r} is not {hint}")
    return items


def _device(value: str, what: str) -> dict[str, str]:
    parts = value.split(":")
    if len(parts) > 3:
        raise InvalidArgument(f"{what} must be /dev/host[:/dev/container[:rwm]]")
    for path in parts[:2]:
        if (
            not path.startswith("/")
            or path.startswith("//")
            or posixpath.normpath(path) != path
            or "," in path
        ):
            raise InvalidArgument(f"{what} {path[:100]!r} must be a normalized absolute path")
    perms = parts[2] if len(parts) == 3 else "rwm"
    if not perms or not set(perms) <= set("rwm"):
        raise InvalidArgument(f"{what} permissions must be some of r, w and m")
    return {
        "PathOnHost": parts[0],
        "PathInContainer": parts[1] if len(parts) > 1 else parts[0],
        "CgroupPermissions": perms,
    }


def _security(args: dict, config: dict[str, Any], host_config: dict[str, Any]) -> None:
    """The settings only a policy toggle allows, into the engine's create body."""
    if args.get("privileged") is not None:
        host_config["Privileged"] = opt_bool(args, "privileged", False)
    if args.get("cap_add") is not None:
        host_config["CapAdd"] = _matching(
            args["cap_add"], "args.cap_add", _CAPABILITY_RE, "a capability like NET_ADMIN", 64
        )
    if args.get("devices") is not None:
        devices = str_list(args["devices"], "args.devices", 64)
        host_config["Devices"] = [_device(d, f"args.devices[{i}]") for i, d in enumerate(devices)]
    if args.get("network_mode") is not None:
        mode = check_str(args["network_mode"], "args.network_mode", 255)
        if mode not in ("bridge", "none", "host") and not _NETWORK_NAME_RE.match(mode):
            raise InvalidArgument("args.network_mode must be bridge, none, host or a network name")
        host_config["NetworkMode"] = mode
    for key, field, modes in (
        ("pid_mode", "PidMode", ("host",)),
        ("ipc_mode", "IpcMode", _IPC_MODES),
        ("userns_mode", "UsernsMode", ("host",)),
    ):
        if args.get(key) is not None:
            if args[key] not in modes:
                raise InvalidArgument(f"args.{key} must be one of: {', '.join(modes)}")
            host_config[field] = args[key]
    if args.get("security_opt") is not None:
        hint = "a supported option (no-new-privileges, apparmor=, seccomp=unconfined, label=)"
        host_config["SecurityOpt"] = _matching(
            args["security_opt"], "args.security_opt", _SECURITY_OPT_RE, hint, 16
        )
    if args.get("sysctls") is not None:
        sysctls = str_dict(args["sysctls"], "args.sysctls", _SYSCTL_RE)
        if len(sysctls) > 64:
            raise InvalidArgument("args.sysctls has more than 64 entries")
        host_config["Sysctls"] = sysctls
    if args.get("user") is not None:
        user = check_str(args["user"], "args.user", 255)
        if not _USER_RE.match(user):
            raise InvalidArgument("args.user must be uid[:gid] or name[:group]")
        config["User"] = user


def _restart_policy(value: Any) -> dict[str, Any]:
    where = "args.restart_policy"
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where} must be an object")
    check_keys(value, {"name", "max_retries"}, where)
    name = value.get("name", "no")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidArgument(f"{where}.name must be no, always, unless-stopped or on-failure")
    retries = opt_int(value, "max_retries", 0, 0, 1000, where) or 0
    if retries and name != "on-failure":
        raise InvalidArgument(f"{where}.max_retries applies only to on-failure")
    return {"Name": "" if name == "no" else name, "MaximumRetryCount": retries}


def _healthcheck(value: Any) -> dict[str, Any]:
    where = "args.healthcheck"
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where} must be an object")
    check_keys(value, {"test", "interval_s", "timeout_s", "retries", "start_period_s"}, where)
    test = str_list(value.get("test"), f"{where}.test", 64)
    if not test or test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        raise InvalidArgument(f"{where}.test must start with CMD, CMD-SHELL or NONE")
    if test[0] != "NONE" and len(test) < 2:
        raise InvalidArgument(f"{where}.test needs a command after {test[0]}")
    hc: dict[str, Any] = {"Test": test}
    for key, field in (
        ("interval_s", "Interval"),
        ("timeout_s", "Timeout"),
        ("start_period_s", "StartPeriod"),
    ):
        seconds = opt_number(value, key, 0.001, 86400, where)
        if seconds is not None:
            hc[field] = int(seconds * _NS)
    retries = opt_int(value, "retries", None, 0, 100, where)
    if retries is not None:
        hc["Retries"] = retries
    return hc


def _limits(value: Any) -> dict[str, Any]:
    where = "args.limits"
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where} must be an object")
    check_keys(value, {"memory", "cpus"}, where)
    out: dict[str, Any] = {}
    memory = opt_int(value, "memory", None, 6 * 1024 * 1024, 2**50, where)
    if memory is not None:
        out["Memory"] = memory
    cpus = opt_number(value, "cpus", 0.01, 1024, where)
    if cpus is not None:
        out["NanoCpus"] = round(cpus * _NS)
    return out


RUN_KEYS = frozenset(
    {
        "image",
        "name",
        "command",
        "env",
        "ports",
        "volumes",
        "restart_policy",
        "labels",
        "healthcheck",
        "limits",
        "privileged",
        "cap_add",
        "devices",
        "network_mode",
        "pid_mode",
        "ipc_mode",
        "userns_mode",
        "security_opt",
        "sysctls",
        "user",
    }
)


def build_create_config(args: dict) -> tuple[dict[str, Any], str | None]:
    """Validate a run spec and turn it into an engine create body plus the container name."""
    check_keys(args, RUN_KEYS)
    image = image_ref(args, "image")
    name = args.get("name")
    if name is not None and (not isinstance(name, str) or not NAME_RE.match(name)):
        raise InvalidArgument(
            "args.name must be 2-128 characters: letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    config: dict[str, Any] = {"Image": image}
    host_config: dict[str, Any] = {}
    if args.get("command") is not None:
        config["Cmd"] = str_list(args["command"], "args.command")
    if args.get("env") is not None:
        env = str_dict(args["env"], "args.env", _ENV_KEY_RE)
        config["Env"] = [f"{k}={v}" for k, v in env.items()]
    if args.get("labels") is not None:
        config["Labels"] = str_dict(args["labels"], "args.labels")
    if args.get("ports") is not None:
        config["ExposedPorts"], host_config["PortBindings"] = _ports(args["ports"])
    if args.get("volumes") is not None:
        host_config["Binds"] = _volumes(args["volumes"])
    if args.get("restart_policy") is not None:
        host_config["RestartPolicy"] = _restart_policy(args["restart_policy"])
    if args.get("healthcheck") is not None:
        config["Healthcheck"] = _healthcheck(args["healthcheck"])
    if args.get("limits") is not None:
        host_config.update(_limits(args["limits"]))
    _security(args, config, host_config)
    if host_config.get("NetworkMode") == "host" and host_config.get("PortBindings"):
        raise InvalidArgument("args.ports cannot be published with network_mode host")
    config["HostConfig"] = host_config
    return config, name


def run(ctx: OpContext, args: dict) -> dict[str, Any]:
    policy.check_labels(args.get("labels"))
    config, name = build_create_config(args)
    check_user = policy.check_spec(args)
    api = docker_client.api()
    if check_user:
        policy.check_image_user(api, config["Image"])
    created = api.create_container_from_config(config, name=name)
    cid = created["Id"]
    try:
        api.start(cid)
    except BaseException:
        # Never leave a created-but-not-started container behind.
        with contextlib.suppress(Exception):
            api.remove_container(cid, v=True, force=True)
        raise
    return {"summary": _after(api, cid), "warnings": created.get("Warnings") or []}
