"""Each host's daemons: sshd, dockerd, and the Docker Engine API over its socket."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
from contextlib import suppress
from pathlib import Path

from .common import CLIENT_DIR, KEY_PHRASE, REGISTRY, SFTP_SERVER, TestbedError, run, tail, wait_for
from .hosts import Host, in_host
from .processes import stop_pids

# --------------------------------------------------------------------------
# Docker Engine API over a unix socket
# --------------------------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def docker_api(
    sock: Path,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(str(sock), timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def docker_stream(
    sock: Path,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> None:
    """Call an endpoint that answers with JSON progress lines; fail on error."""
    status, data = docker_api(sock, method, path, body, headers, timeout)
    if status >= 400:
        raise TestbedError(f"docker {method} {path}: {status} {data.decode().strip()}")
    for line in data.splitlines():
        if line.strip() and "error" in (message := json.loads(line)):
            raise TestbedError(f"docker {method} {path}: {message['error']}")


def docker_ping(sock: Path) -> bool:
    try:
        return docker_api(sock, "GET", "/_ping", timeout=2)[0] == 200
    except (OSError, http.client.HTTPException):
        return False


def docker_remove_all_containers(sock: Path) -> None:
    status, data = docker_api(sock, "GET", "/containers/json?all=1")
    if status != 200:
        return
    for container in json.loads(data):
        docker_api(sock, "DELETE", f"/containers/{container['Id']}?force=1&v=1")


# --------------------------------------------------------------------------
# SSH
# --------------------------------------------------------------------------


def ensure_client_keys() -> dict[str, Path]:
    """Create the client key pairs once; (re)write authorized_keys."""
    CLIENT_DIR.mkdir(parents=True, exist_ok=True)
    keys = {
        "ed25519": (CLIENT_DIR / "id_ed25519", ["-t", "ed25519", "-N", ""]),
        "rsa": (CLIENT_DIR / "id_rsa", ["-t", "rsa", "-b", "3072", "-N", ""]),
        "ed25519_passphrase": (
            CLIENT_DIR / "id_ed25519_pass",
            ["-t", "ed25519", "-N", KEY_PHRASE],
        ),
    }
    for path, options in keys.values():
        if not (path.exists() and Path(f"{path}.pub").exists()):
            path.unlink(missing_ok=True)
            run(["ssh-keygen", "-q", *options, "-C", "berth-testbed", "-f", str(path)])
    authorized = "".join(Path(f"{path}.pub").read_text() for path, _ in keys.values())
    (CLIENT_DIR / "authorized_keys").write_text(authorized)
    return {label: path for label, (path, _) in keys.items()}


def write_host_key(host: Host) -> None:
    host.host_key.unlink(missing_ok=True)
    Path(f"{host.host_key}.pub").unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.hostname,
         "-f", str(host.host_key)])  # fmt: skip


def write_sshd_config(host: Host) -> None:
    host.sshd_config.write_text(
        f"""\
ListenAddress {host.address}
# Only reachable from inside the host: tests reach it through a jump host.
ListenAddress 127.0.0.1
Port 22
HostKey {host.host_key}
PidFile {host.sshd_pid}
AuthorizedKeysFile {CLIENT_DIR / "authorized_keys"}
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
Subsystem sftp {SFTP_SERVER}
MaxSessions 20
MaxStartups 100:30:200
PrintMotd no
LogLevel ERROR
SetEnv DOCKER_HOST={host.docker_host}
"""
    )


def ssh_banner(address: str, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=timeout) as conn:
            return conn.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def start_sshd(host: Host) -> int:
    if pid := host.running_sshd():
        return pid
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host.run.mkdir(parents=True, exist_ok=True)
    host.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    host.sshd_pid.unlink(missing_ok=True)
    # `ip netns exec` gives sshd a private mount namespace, so the host's own
    # home directory can be bound over /root there without touching ours.
    sshd = ["/usr/sbin/sshd", "-f", str(host.sshd_config)]
    run(["ip", "netns", "exec", host.netns, *in_host(host, sshd, own_home=True)])
    wait_for(lambda: host.running_sshd() is not None, 10, f"sshd pid file of {host.name}")
    wait_for(lambda: ssh_banner(host.address), 10, f"sshd of {host.name} to answer")
    return host.running_sshd() or 0


def stop_sshd(host: Host) -> bool:
    pid = host.running_sshd()
    if pid:
        stop_pids([pid], grace=5)
    host.sshd_pid.unlink(missing_ok=True)
    return pid is not None


# --------------------------------------------------------------------------
# Docker
# --------------------------------------------------------------------------


def start_dockerd(host: Host) -> int:
    host.data_root.mkdir(parents=True, exist_ok=True)
    host.run.mkdir(parents=True, exist_ok=True)
    config = host.state / "daemon.json"
    # Own config file (not /etc/docker/daemon.json) and own trust key, so each
    # host reports its own engine ID in `docker info`.
    config.write_text(json.dumps({"deprecated-key-path": str(host.state / "key.json")}))
    dockerd = [
        "dockerd",
        "--config-file", str(config),
        "--data-root", str(host.data_root),
        "--exec-root", str(host.run / "exec"),
        "--pidfile", str(host.docker_pid),
        "--host", host.docker_host,
        "--insecure-registry", REGISTRY,
        # Separate containerd namespaces and cgroup parent: no host can see
        # (or clean up) another host's containers, even if a system containerd
        # at /run/containerd/containerd.sock were shared by all of them.
        "--containerd-namespace", host.netns,
        "--containerd-plugins-namespace", f"{host.netns}-plugins",
        "--cgroup-parent", host.netns,
    ]  # fmt: skip
    with open(host.state / "dockerd.log", "ab") as log:
        process = subprocess.Popen(
            # nsenter, not `ip netns exec`: the latter remounts /sys and
            # dockerd then fails with "Devices cgroup isn't mounted".
            ["nsenter", f"--net=/run/netns/{host.netns}", *in_host(host, dockerd)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def ready() -> bool:
        if process.poll() is not None:
            raise TestbedError(
                f"dockerd of {host.name} exited ({process.returncode}):\n"
                + tail(host.state / "dockerd.log")
            )
        return docker_ping(host.docker_sock)

    wait_for(ready, 60, f"dockerd of {host.name}")
    return process.pid


def stop_dockerd(host: Host) -> None:
    pid = host.running_dockerd()
    if pid and docker_ping(host.docker_sock):
        with suppress(OSError, http.client.HTTPException):
            docker_remove_all_containers(host.docker_sock)
    if pid:
        stop_pids([pid], grace=20)


def halt_dockerd(host: Host) -> bool:
    """Stop the host's dockerd as a service manager would, its containers left in place
    (stopped by the daemon itself; those with a restart policy come back on start).
    A dockerd with running containers takes up to 10 s to exit; this waits for its pid
    to go, since a new one refuses to start while the old pid file stands."""
    pid = host.running_dockerd()
    if pid:
        stop_pids([pid], grace=30)
    return pid is not None
