"""The health gate: a new container must pass its health check (the image's own, an HTTP
GET, a TCP connect, or just staying up) before the switch counts as done."""

from __future__ import annotations

import http.client
import socket
import time
from typing import Any

from berth_agent.context import OpContext
from berth_agent.protocol import HEALTH_CHECK_FAILED, AgentError

from .args import Health

# How often the docker health gate looks at the container.
POLL_S = 0.25
# Up to this many characters of health-check output / container logs go into messages.
DETAIL_CHARS = 500


def short(text: Any) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 3] + "..."


def failed(message: str) -> AgentError:
    return AgentError(HEALTH_CHECK_FAILED, message)


def container_ip(attrs: dict[str, Any]) -> str | None:
    settings = attrs.get("NetworkSettings") or {}
    if settings.get("IPAddress"):
        return settings["IPAddress"]
    for net in (settings.get("Networks") or {}).values():
        if (net or {}).get("IPAddress"):
            return net["IPAddress"]
    return None


class HealthGate:
    """Waits until the container passes ``health``; raises a health_check_failed
    AgentError (with the container's last output) when it does not."""

    def __init__(
        self, ctx: OpContext, api: Any, container_id: str, name: str, health: Health
    ) -> None:
        self.ctx = ctx
        self.api = api
        self.container_id = container_id
        self.name = name
        self.health = health

    def _sleep(self, seconds: float) -> None:
        if self.ctx.cancel_event.wait(max(seconds, 0.0)):
            self.ctx.check_cancelled()

    def _inspect_alive(self) -> dict[str, Any]:
        """Inspect the new container; a health failure if it is no longer running."""
        attrs = self.api.inspect_container(self.container_id)
        state = attrs.get("State") or {}
        status = state.get("Status")
        if status in ("exited", "dead", "created"):
            raise failed(
                f"container {self.name} exited with code {state.get('ExitCode')} before it "
                f"passed its health check{self._logs_tail()}"
            )
        if status == "restarting" or (attrs.get("RestartCount") or 0) > 0:
            raise failed(
                f"container {self.name} is restarting (it exited with code "
                f"{state.get('ExitCode')}){self._logs_tail()}"
            )
        return attrs

    def _logs_tail(self) -> str:
        try:
            raw = self.api.logs(self.container_id, stdout=True, stderr=True, tail=5)
        except Exception:  # the logs are only a hint
            return ""
        text = short(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
        return f"; last output: {text}" if text else ""

    def wait(self) -> str:
        h = self.health
        started = time.monotonic()
        deadline = started + h.timeout_s
        if h.mode == "none":
            self._inspect_alive()
            return "running"
        if h.mode == "docker":
            return self._gate_docker(started, deadline)
        return self._gate_probe(deadline)

    def _gate_docker(self, started: float, deadline: float) -> str:
        h = self.health
        while True:
            attrs = self._inspect_alive()
            health = (attrs.get("State") or {}).get("Health")
            status = "no health check"
            if health:
                status = health.get("Status") or "starting"
                if status == "healthy":
                    return "healthy"
                if status == "unhealthy":
                    log = health.get("Log") or []
                    detail = short(log[-1].get("Output")) if log else ""
                    if log and not detail:
                        detail = f"exit code {log[-1].get('ExitCode')}"
                    raise failed(f"container {self.name} became unhealthy: {detail}")
            elif time.monotonic() - started >= h.interval_s * h.retries:
                return "running"
            if time.monotonic() >= deadline:
                raise failed(
                    f"container {self.name} did not become healthy within "
                    f"{h.timeout_s:g} s (health: {status})"
                )
            self._sleep(min(POLL_S, deadline - time.monotonic()))

    def _gate_probe(self, deadline: float) -> str:
        h = self.health
        assert h.port is not None
        failures = 0
        while True:
            attrs = self._inspect_alive()
            ip = container_ip(attrs)
            if not ip:
                raise failed(
                    f"container {self.name} has no IP address to probe; "
                    "use health mode docker or none"
                )
            if h.mode == "http":
                target = f"http://{ip}:{h.port}{h.path}"
                ok, detail = probe_http(ip, h.port, h.path, self._attempt_timeout(deadline))
            else:
                target = f"tcp://{ip}:{h.port}"
                ok, detail = probe_tcp(ip, h.port, self._attempt_timeout(deadline))
            if ok:
                return "healthy"
            failures += 1
            if failures >= h.retries:
                raise failed(
                    f"health check of {self.name} failed {failures} time(s) in a row: "
                    f"{target} {detail}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise failed(
                    f"health check of {self.name} did not pass within {h.timeout_s:g} s: "
                    f"{target} {detail}"
                )
            self._sleep(min(h.interval_s, remaining))

    def _attempt_timeout(self, deadline: float) -> float:
        limit = min(max(2.0 * self.health.interval_s, 2.0), 10.0)
        return max(min(limit, deadline - time.monotonic()), 0.2)


def probe_http(ip: str, port: int, path: str, timeout: float) -> tuple[bool, str]:
    # http.client, not urllib: no proxy from the environment may ever see a health check.
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "berth-agent", "Connection": "close"})
        resp = conn.getresponse()
        resp.read(65536)
        if 200 <= resp.status < 400:
            return True, f"answered {resp.status}"
        return False, f"answered {resp.status}"
    except (OSError, http.client.HTTPException) as e:
        return False, network_error(e, timeout)
    finally:
        conn.close()


def probe_tcp(ip: str, port: int, timeout: float) -> tuple[bool, str]:
    try:
        socket.create_connection((ip, port), timeout=timeout).close()
    except OSError as e:
        return False, network_error(e, timeout)
    return True, "accepted the connection"


def network_error(e: BaseException, timeout: float) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "refused the connection"
    if isinstance(e, socket.timeout):
        return f"did not answer within {timeout:g} s"
    return f"failed: {short(e) or type(e).__name__}"
