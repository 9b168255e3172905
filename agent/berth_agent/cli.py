"""Command line: ``berth-agent serve [--docker-host URL]``.

Kept import-light on purpose: the hello line must go out before the Docker SDK is imported.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from berth_agent import AGENT_VERSION

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"

_UNIX_RE = re.compile(r"^unix://(/[A-Za-z0-9_./@+-]{1,200})$")
_TCP_RE = re.compile(r"^tcp://([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):([0-9]{1,5})$")


class UsageError(Exception):
    """A bad command line or environment; reported on stderr with exit code 2."""


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
    from berth_agent.hello import send_hello

    send_hello(url)
    from berth_agent.server import serve

    return serve(url)
