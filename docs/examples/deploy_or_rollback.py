#!/usr/bin/env python3
"""Deploy the newest revision of a Berth service; roll back if the rollout fails.

    export BERTH_URL=https://berth.example.com BERTH_TOKEN=berth_…   # an operator token
    python3 deploy_or_rollback.py web

Exit status: 0 deployed, 1 failed and rolled back, 2 failed and the rollback failed too.
Needs only `requests`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import requests

BASE = os.environ.get("BERTH_URL", "http://127.0.0.1:8000").rstrip("/") + "/api/v1"
FINISHED = {"succeeded", "partial", "failed", "rolled_back", "cancelled"}
FAILED = {"failed", "rolled_back"}

session = requests.Session()
session.headers["Authorization"] = f"Bearer {os.environ['BERTH_TOKEN']}"


def call(method: str, url: str, **kwargs: Any) -> dict:
    response = session.request(method, url, timeout=30, **kwargs)
    if response.status_code >= 400:
        # Every error has the same shape: {"message": ..., "errors": {field: [...]}}
        sys.exit(f"{method} {url}: {response.status_code} {response.json()['message']}")
    return response.json()


def follow(rollout: dict) -> dict:
    """Poll the rollout (the 202's Location) until it has finished."""
    url = f"{BASE}/rollouts/{rollout['id']}/"
    while rollout["status"] not in FINISHED:
        time.sleep(2)
        rollout = call("GET", url)
        steps = ", ".join(f"{h['host_name']}: {h['step']}" for h in rollout["hosts"])
        print(f"  rollout #{rollout['id']} {rollout['status']} ({steps})")
    return rollout


def main(name: str) -> int:
    services = call("GET", f"{BASE}/services/", params={"name": name})["results"]
    if not services:
        sys.exit(f"no service named {name!r}")
    service = services[0]
    print(f"deploying the newest revision of {name} to {service['host_group'] or 'its hosts'}")
    rollout = follow(call("POST", f"{BASE}/services/{service['id']}/deploy/", json={}))
    if rollout["status"] not in FAILED:
        print(f"revision {rollout['revision']}: {rollout['status']}")
        return 0
    previous = rollout["previous_revision"]
    print(f"revision {rollout['revision']} {rollout['status']}: {rollout['reason']}")
    if previous is None:
        print("no earlier revision to go back to")
        return 2
    print(f"rolling back to revision {previous}")
    back = follow(
        call("POST", f"{BASE}/services/{service['id']}/rollback/", json={"revision": previous})
    )
    print(f"rollback to revision {previous}: {back['status']}")
    return 1 if back["status"] == "succeeded" else 2


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
