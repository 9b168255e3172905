"""The wire protocol: hello, framing errors, concurrency, cancel, EOF and a missing engine."""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

from tests.agent.helpers import PYTHON, Agent


def test_hello_is_the_first_line_with_protocol_1_and_the_docker_version(agent: Agent) -> None:
    assert agent.lines[0] is agent.hello
    hello = agent.hello["hello"]
    assert hello["agent"] == "berth-agent"
    assert hello["version"] == "0.1.0"
    assert hello["protocol"] == 1
    assert hello["docker"]["version"]
    assert hello["docker"]["api_version"]
    assert hello["docker"]["os"] == "linux"
    assert hello["docker_error"] is None
    assert isinstance(hello["pid"], int)
    assert hello["python"].count(".") == 2


def test_hello_carries_the_sha256_of_the_pyz_it_runs_from(agent: Agent, agent_pyz: Path) -> None:
    assert agent.hello["hello"]["sha256"] == hashlib.sha256(agent_pyz.read_bytes()).hexdigest()


def test_a_line_that_is_not_json_gets_invalid_request_and_the_agent_keeps_serving(
    agent: Agent,
) -> None:
    agent.send_raw(b"this is not json\n")
    msg = agent.next_message(None)
    assert msg["ok"] is False and msg["error"]["code"] == "invalid_request"
    assert agent.ok("ping") == {"pong": True}


def test_json_that_is_not_an_object_gets_invalid_request_with_null_id(agent: Agent) -> None:
    agent.send([1, 2, 3])
    msg = agent.next_message(None)
    assert msg == {
        "id": None,
        "ok": False,
        "error": {"code": "invalid_request", "message": "request must be a JSON object"},
    }
    assert agent.ok("ping") == {"pong": True}


def test_a_request_without_op_gets_invalid_request_with_its_id(agent: Agent) -> None:
    agent.send({"id": "abc"})
    reply = agent.wait("abc")
    assert reply.code == "invalid_request" and "op" in reply.error["message"]
    assert agent.ok("ping") == {"pong": True}


def test_a_request_without_a_usable_id_gets_an_error_with_null_id(agent: Agent) -> None:
    agent.send({"op": "ping"})
    agent.send({"id": [1], "op": "ping"})
    agent.send({"id": True, "op": "ping"})
    for _ in range(3):
        assert agent.next_message(None)["error"]["code"] == "invalid_request"


def test_args_that_are_not_an_object_get_invalid_request(agent: Agent) -> None:
    agent.send({"id": 5, "op": "ping", "args": [1]})
    assert agent.wait(5).code == "invalid_request"


def test_an_unknown_op_gets_unknown_op_and_the_agent_keeps_serving(agent: Agent) -> None:
    reply = agent.call("container.explode")
    assert reply.code == "unknown_op"
    assert agent.ok("ping") == {"pong": True}


def test_a_line_over_one_mib_gets_request_too_large_and_the_agent_keeps_serving(
    agent: Agent,
) -> None:
    big = b'{"id": 1, "op": "ping", "args": {"x": "' + b"a" * (3 << 20) + b'"}}\n'
    agent.send_raw(big)
    msg = agent.next_message(None, timeout=30)
    assert msg["error"]["code"] == "request_too_large"
    assert agent.ok("ping") == {"pong": True}


def test_a_line_just_under_one_mib_is_still_accepted(agent: Agent) -> None:
    prefix = b'{"id": "big", "op": "ping", "args": {"x": "'
    suffix = b'"}}'
    filler = b"a" * ((1 << 20) - len(prefix) - len(suffix))
    agent.send_raw(prefix + filler + suffix + b"\n")
    reply = agent.wait("big")
    assert reply.code == "invalid_argument" and "args.x" in reply.error["message"]


def test_unknown_argument_keys_are_rejected_naming_the_key(agent: Agent) -> None:
    reply = agent.call("container.list", {"all": True, "bogus": 1})
    assert reply.code == "invalid_argument"
    assert "bogus" in reply.error["message"]


def test_a_slow_op_does_not_block_ping(agent: Agent, make_container) -> None:
    # A PID 1 without a TERM handler makes stop wait its full timeout.
    name = make_container("sleep", "1000")
    slow = agent.start("container.stop", {"id": name, "timeout": 4})
    t0 = time.monotonic()
    assert agent.ok("ping") == {"pong": True}
    assert time.monotonic() - t0 < 1.0
    assert agent.wait(slow, timeout=30).ok is True


def test_cancel_of_a_request_not_in_flight_answers_cancelled_false(agent: Agent) -> None:
    assert agent.ok("cancel", {"target": 12345}) == {"cancelled": False}
    assert agent.call("cancel", {}).code == "invalid_argument"


def test_a_reused_id_of_a_request_in_flight_is_refused(agent: Agent) -> None:
    agent.send({"id": "ev", "op": "events.stream"})
    time.sleep(0.3)
    agent.send({"id": "ev", "op": "ping"})
    assert agent.next_message("ev")["error"]["code"] == "invalid_request"
    agent.ok("cancel", {"target": "ev"})
    assert agent.wait("ev").code == "cancelled"


def test_the_agent_exits_0_quickly_on_stdin_eof_with_a_stream_in_flight(agent: Agent) -> None:
    agent.start("events.stream")
    agent.ok("ping")
    t0 = time.monotonic()
    assert agent.close(timeout=10) == 0
    assert time.monotonic() - t0 < 3


def test_an_invalid_docker_host_is_refused_with_exit_code_2(agent_pyz: Path) -> None:
    for url in ("ssh://root@example", "unix://relative.sock", "unix:///a b.sock", "tcp://h"):
        r = subprocess.run(
            [PYTHON, "-I", "-S", str(agent_pyz), "serve", "--docker-host", url],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=30,
        )
        assert r.returncode == 2, url
        assert r.stdout == ""
        assert "not supported" in r.stderr


def test_docker_host_falls_back_to_the_environment(start_agent, docker_host: str) -> None:
    a = start_agent(None, env={"DOCKER_HOST": docker_host, "PATH": "/usr/bin:/bin"})
    assert a.hello["hello"]["docker"] is not None


def test_a_missing_socket_gives_docker_unavailable(start_agent, tmp_path: Path) -> None:
    a = start_agent(f"unix://{tmp_path}/missing.sock")
    hello = a.hello["hello"]
    assert hello["docker"] is None
    assert "No such file or directory" in hello["docker_error"]
    reply = a.call("container.list")
    assert reply.code == "docker_unavailable"
    assert a.ok("ping") == {"pong": True}
    assert a.call("host.facts").code == "docker_unavailable"
