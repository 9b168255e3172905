"""Ops about the host itself: ping and host.facts."""

from __future__ import annotations

import os
from typing import Any

from berth_agent import docker_client
from berth_agent.context import OpContext
from berth_agent.validation import check_keys


def ping(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, set())
    return {"pong": True}


def facts(ctx: OpContext, args: dict) -> dict[str, Any]:
    check_keys(args, set())
    api = docker_client.api()
    info = api.info()
    unhealthy = api.containers(all=True, filters={"health": "unhealthy"})
    root = info.get("DockerRootDir")
    disk_total = disk_free = None
    if isinstance(root, str) and os.path.isdir(root):
        st = os.statvfs(root)
        disk_total = st.f_blocks * st.f_frsize
        disk_free = st.f_bavail * st.f_frsize
    return {
        "hostname": info.get("Name"),
        "docker_version": info.get("ServerVersion"),
        # Negotiated when the client connected ("auto"): no extra /version round trip.
        "api_version": api.api_version,
        "os": info.get("OperatingSystem"),
        "kernel": info.get("KernelVersion"),
        "arch": info.get("Architecture"),
        "cpus": info.get("NCPU"),
        "mem_total": info.get("MemTotal"),
        "docker_root_dir": root,
        "disk_total": disk_total,
        "disk_free": disk_free,
        "containers": {
            "total": info.get("Containers"),
            "running": info.get("ContainersRunning"),
            "stopped": info.get("ContainersStopped"),
            "paused": info.get("ContainersPaused"),
            "unhealthy": len(unhealthy),
        },
        "images": info.get("Images"),
    }
