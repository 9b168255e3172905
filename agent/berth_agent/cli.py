"""Command line: ``berth-agent serve [--docker-host URL]``.

Kept import-light on purpose: the hello line must go out before the Docker SDK is imported.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys

from berth_agent import AGENT_VERSION

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
BERTH_DIR = os.path.join("~", ".berth")  # the agent itself and the host's policy file

_UNIX_RE = re.compile(r"^unix://(/[A-Za-z0-9_./@+-]{1,200})$")
_TCP_RE = re.compile(r"^tcp://([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):([0-9]{1,5})$")


class UsageError(Exception):
    """A bad command line or environment; reported on stderr with exit code 2."""


class StartRefused(Exception):
    """~/.berth cannot be trusted; reported on stderr, before any hello, with exit code 3."""


def check_berth_dir() -> None:
    """Check ~/.berth, where Berth installs the agent and writes the policy file: it must
    be a directory (not a link) of the agent's user, mode 0700. One others can only
    read or enter is tightened to 0700 (said on stderr); one others could write to, or
    anything else, raises StartRefused: what is in it may not be what Berth put there,
    and only someone looking at the host can tell."""
    path = os.path.expanduser(BERTH_DIR)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return  # nothing installed or written there yet (the local transport)
    except OSError as e:
        raise StartRefused(f"~/.berth cannot be checked ({e.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise StartRefused(
            "~/.berth is a symbolic link; it must be a directory of its own, mode 0700"
        )
    if not stat.S_ISDIR(st.st_mode):
        raise StartRefused("~/.berth is not a directory; it must be one, mode 0700")
    if st.st_uid != os.getuid():
        raise StartRefused(
            f"~/.berth is owned by uid {st.st_uid}, not by the agent's user "
            f"(uid {os.getuid()}); it must be theirs, mode 0700"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise StartRefused(
            f"~/.berth has mode {mode:04o}: others could have replaced the agent or the "
            "policy file in it; check them, then chmod 700 ~/.berth"
        )
    if mode & 0o077:
        os.chmod(path, 0o700)
        print(f"berth-agent: ~/.berth had mode {mode:04o}; made it 0700", file=sys.stderr)


def validate_docker_host(url: str) -> str:
    """Return ``url`` if it is a supported Docker endpoint, else raise UsageError."""
    m = _UNIX_RE.match(url)
    if m:
        if "/../" in m.group(1) + "/" or "//" in m.group(1):
            raise UsageError(f"docker host {url!r}: socket path must be normalized")
        return url
    m = _TCP_RE.match(url)
    if m:
        port = int(m.group(2))
        if not 1 <= port <= 65535:
            raise UsageError(f"docker host {url!r}: port must be 1-65535")
        return url
    raise UsageError(
        f"docker host {url!r} is not supported: use unix:///absolute/path.sock "
        "(characters A-Z a-z 0-9 _ . / @ + -) or tcp://host:port"
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="berth-agent", description="Berth host agent")
    p.add_argument("--version", action="version", version=f"berth-agent {AGENT_VERSION}")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve JSON-lines requests on stdin/stdout")
    serve.add_argument(
        "--docker-host",
        help=f"Docker endpoint (default: $DOCKER_HOST, else {DEFAULT_DOCKER_HOST})",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the agent; returns the process exit code."""
    args = _parser().parse_args(argv)
    url = args.docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    try:
        url = validate_docker_host(url)
    except UsageError as e:
        print(f"berth-agent: error: {e}", file=sys.stderr)
        return 2
    try:
        check_berth_dir()
    except StartRefused as e:
        print(f"berth-agent: error: {e}", file=sys.stderr)
        return 3
    from berth_agent.hello import send_hello

    send_hello(url)
    from berth_agent.server import serve

    return serve(url)
