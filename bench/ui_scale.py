#!/usr/bin/env python3
"""Server time and SQL queries of the dashboard pages and the API lists, at 10 hosts
and at 1,000 hosts.

Builds a synthetic fleet in a throwaway SQLite database (migrated, then filled with
bulk_create): hosts in a few groups with labels, facts and a mix of statuses (some
unreachable), 30 containers per host with labels, states, health and ports, their
images, operations and services with rollouts: five services on large host groups
with two rollouts each, and one service per five hosts (200 at 1,000 hosts) on one of
40 smaller groups, each with 20 revisions and a rollout of each. Each page is requested in-process
with Django's test client, logged in as an admin, with BERTH_DEBUG off; the time is
the whole request/response cycle around ``client.get`` (p50/p95 of --runs after
--warmup). The fleet is first built with --small hosts and measured, then grown to
--hosts and measured again: every page must answer 200 and make the same number of
queries at both sizes (exit status 1 otherwise), and each should answer within
150 ms (p95) at --hosts. The process freezes the loaded app as a server process does
(berth.startup); the "unfrozen" column, the baseline, measures the large fleet again
with it handed back to the garbage collector. Results also go to
bench/results/ui_scale.json.

Usage: bench/ui_scale.py [--hosts 1000] [--small 10] [--runs 30] [--warmup 3]
"""

from __future__ import annotations

import argparse
import atexit
import gc
import hashlib
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="berth-bench-ui-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "berth.settings",
        "DATABASE_URL": f"sqlite:///{WORK / 'bench.sqlite3'}",
        "BERTH_VAR_DIR": str(WORK / "var"),
        "BERTH_DEBUG": "false",  # as in production: no query log, no debug toolbar work
        "BERTH_SECRET_KEY": secrets.token_urlsafe(50),
        "BERTH_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "BERTH_ALLOWED_HOSTS": "testserver",
        "BERTH_SECURE_COOKIES": "false",
        "BERTH_LOG_LEVEL": "WARNING",
    }
)
sys.path.insert(0, str(REPO))

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.common import percentiles, write_results  # noqa: E402
from berth.startup import freeze_loaded_app  # noqa: E402
from containers.models import Container  # noqa: E402
from deployments.choices import HostStep, RolloutStatus  # noqa: E402
from deployments.models import Revision, Rollout, RolloutHost, Service  # noqa: E402
from hosts.choices import HostStatus  # noqa: E402
from hosts.models import Host, HostGroup, SSHKey  # noqa: E402
from images.models import Image  # noqa: E402
from operations.choices import OperationStatus  # noqa: E402
from operations.models import Operation  # noqa: E402

GROUPS = ["edge", "core", "batch", "eu-west", "us-east"]
APP_GROUPS = 40  # smaller groups ("app-00" …) the many services run on; each host is in one
HOSTS_PER_SERVICE = 5  # one service per five hosts: 200 services at 1,000 hosts
REVISIONS = 20  # revisions of each of those services, each rolled out once
TIERS = ["web", "api", "db", "cache", "batch"]
REGISTRY = "registry.example.com:5000"
BATCH = 2000
GOAL_P95_MS = 150.0

# The 30 containers of a host: (name, app, image repository, published port base or None).
CONTAINERS = (
    [(f"web-{n}", "web", "shop/web", 8000 + n) for n in range(1, 13)]
    + [(f"api-{n}", "api", "shop/api", 9000 + n) for n in range(1, 7)]
    + [(f"worker-{n}", "worker", "shop/worker", None) for n in range(1, 5)]
    + [
        ("redis", "redis", "library/redis", None),
        ("postgres", "postgres", "library/postgres", None),
        ("nginx-proxy", "proxy", "library/nginx", 443),
        ("node-exporter", "monitoring", "prom/node-exporter", 9100),
        ("cadvisor", "monitoring", "google/cadvisor", None),
        ("log-shipper", "logging", "fluent/fluent-bit", None),
        ("backup", "backup", "ops/backup", None),
        ("migrate", "shop", "shop/api", None),
    ]
)
assert len(CONTAINERS) == 30


def status_of(index: int) -> str:
    if index % 20 == 7:
        return HostStatus.UNREACHABLE
    if index % 50 == 19:
        return HostStatus.HOST_KEY_MISMATCH
    if index % 100 == 42:
        return HostStatus.DOCKER_UNAVAILABLE
    if index % 100 == 88:
        return HostStatus.NEW
    return HostStatus.ONLINE


REASONS = {
    HostStatus.UNREACHABLE: "[Errno 113] No route to host (connect timed out after 5 s)",
    HostStatus.HOST_KEY_MISMATCH: "the host offered a different ssh-ed25519 key",
    HostStatus.DOCKER_UNAVAILABLE: "Cannot connect to the Docker daemon at unix:///run/docker.sock",
}


def image_tag(repository: str, index: int) -> str:
    version = f"v{1 + index % 3}" if repository.startswith(("shop/", "ops/")) else "stable"
    return f"{REGISTRY}/{repository}:{version}"


def image_id(tag: str) -> str:
    return "sha256:" + hashlib.sha256(tag.encode()).hexdigest()


def build(start: int, stop: int, admin: Any) -> None:
    """Add hosts ``start`` … ``stop - 1`` with everything on them."""
    now = timezone.now()
    keys = list(SSHKey.objects.order_by("pk"))
    groups = {group.name: group for group in HostGroup.objects.all()}
    hosts = []
    for index in range(start, stop):
        status = status_of(index)
        contacted = status != HostStatus.NEW
        hosts.append(
            Host(
                name=f"node-{index:04d}",
                address=f"10.{index // 250}.{index % 250}.10",
                username="root",
                ssh_key=keys[index % len(keys)],
                host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + f"{index:040d}"[:40],
                labels={
                    "tier": TIERS[index % len(TIERS)],
                    "env": "staging" if index % 4 == 0 else "prod",
                    "region": "eu-west" if index % 2 else "us-east",
                },
                status=status,
                status_reason=REASONS.get(status, ""),
                last_seen_at=now - timedelta(seconds=5 + index % 30) if contacted else None,
                last_checked_at=now - timedelta(seconds=index % 30) if contacted else None,
                agent_version="0.9.0" if contacted else "",
                docker_version="26.1.4" if contacted else "",
                facts={
                    "cpus": 2 << index % 4,
                    "mem_total": (4 << index % 4) * 1024**3,
                    "os": "Debian GNU/Linux 12 (bookworm)",
                    "kernel": "6.1.0-21-amd64",
                    "arch": "x86_64",
                    "hostname": f"node-{index:04d}",
                    "disk_total": 200 * 1024**3,
                    "storage_driver": "overlay2",
                }
                if contacted
                else {},
            )
        )
    hosts = Host.objects.bulk_create(hosts, batch_size=BATCH)

    memberships = []
    for index, host in zip(range(start, stop), hosts, strict=True):
        memberships.append(
            Host.groups.through(host_id=host.pk, hostgroup_id=groups[GROUPS[index % 3]].pk)
        )
        region = "eu-west" if index % 2 else "us-east"
        memberships.append(Host.groups.through(host_id=host.pk, hostgroup_id=groups[region].pk))
        app_group = groups[app_group_name(index)]
        memberships.append(Host.groups.through(host_id=host.pk, hostgroup_id=app_group.pk))
    Host.groups.through.objects.bulk_create(memberships, batch_size=BATCH)

    containers, images, operations = [], [], []
    for index, host in zip(range(start, stop), hosts, strict=True):
        seen_tags: set[str] = set()
        for number, (name, app, repository, port) in enumerate(CONTAINERS):
            tag = image_tag(repository, index)
            seen_tags.add(tag)
            if name in ("backup", "migrate"):
                state, status = "exited", "Exited (0) 3 hours ago"
            elif name == "worker-1" and index % 17 == 0:
                state, status = "restarting", "Restarting (1) 4 seconds ago"
            else:
                state, status = "running", f"Up {1 + index % 9} days"
            if app in ("web", "api") and state == "running":
                health = "unhealthy" if (index % 13 == 5 and name == "web-3") else "healthy"
                status += f" ({health})"
            else:
                health = ""
            ports: list[dict[str, Any]] = [{"private": 80, "type": "tcp"}] if port is None else [
                {"ip": "0.0.0.0", "private": 80, "public": port, "type": "tcp"},  # noqa: S104
                {"ip": "::", "private": 80, "public": port, "type": "tcp"},
            ]  # fmt: skip
            containers.append(
                Container(
                    host=host,
                    container_id=hashlib.sha256(f"{index}/{name}".encode()).hexdigest(),
                    name=name,
                    image=tag,
                    image_id=image_id(tag),
                    command="/docker-entrypoint.sh",
                    state=state,
                    status=status,
                    health=health,
                    labels={
                        "app": app,
                        "com.docker.compose.project": "shop",
                        "com.docker.compose.service": name.split("-")[0],
                        "team": "platform" if number % 2 else "shop",
                    },
                    ports=ports,
                    created=now - timedelta(days=1 + index % 9, minutes=number),
                )
            )
        for number, tag in enumerate(sorted(seen_tags)):
            repository = tag.rsplit(":", 1)[0]
            images.append(
                Image(
                    host=host,
                    image_id=image_id(tag),
                    tags=[tag],
                    digests=[f"{repository}@{image_id(tag + '@digest')}"],
                    size=(20 + number * 7) * 1024**2,
                    created=now - timedelta(days=10 + number),
                )
            )
        for number in range(10):
            failed = number == 3 and index % 5 == 0
            operations.append(
                Operation(
                    action=["host.refresh", "container.restart", "image.pull"][number % 3],
                    status=OperationStatus.FAILED if failed else OperationStatus.SUCCEEDED,
                    actor=admin,
                    actor_name=admin.username,
                    target_type="host",
                    target_id=str(host.pk),
                    target_name=host.name,
                    host=host,
                    error="connection refused" if failed else "",
                    started_at=now,
                    finished_at=now,
                )
            )
    Container.objects.bulk_create(containers, batch_size=BATCH)
    Image.objects.bulk_create(images, batch_size=BATCH)
    Operation.objects.bulk_create(operations, batch_size=BATCH)

    add_services(start // HOSTS_PER_SERVICE, stop // HOSTS_PER_SERVICE, groups, admin)

    # Every rollout (old and new) has a step on each new host of its service's group.
    in_group: dict[str, list[Host]] = {}
    for index, host in zip(range(start, stop), hosts, strict=True):
        for name in (GROUPS[index % 3], "eu-west" if index % 2 else "us-east"):
            in_group.setdefault(name, []).append(host)
        in_group.setdefault(app_group_name(index), []).append(host)
    steps = []
    for rollout_id, group_name in Rollout.objects.values_list("pk", "service__host_group__name"):
        steps += [
            RolloutHost(rollout_id=rollout_id, host=host, step=HostStep.DONE)
            for host in in_group.get(group_name, [])
        ]
    RolloutHost.objects.bulk_create(steps, batch_size=BATCH)


def app_group_name(index: int) -> str:
    return f"app-{index % APP_GROUPS:02d}"


def add_services(start: int, stop: int, groups: dict[str, HostGroup], admin: Any) -> None:
    """Services ``start`` … ``stop - 1`` on the app groups, each with REVISIONS revisions
    and a finished rollout of each (an operation apiece), the newest one current."""
    services = Service.objects.bulk_create(
        Service(name=f"app-{number:03d}", host_group=groups[app_group_name(number)])
        for number in range(start, stop)
    )
    revisions = Revision.objects.bulk_create(
        (
            Revision(
                service=service,
                number=number,
                image=f"{REGISTRY}/apps/{service.name}:v{number}",
                digest=f"{REGISTRY}/apps/{service.name}@" + image_id(f"{service.name}:v{number}"),
                spec={
                    "image": f"{REGISTRY}/apps/{service.name}:v{number}",
                    "ports": [{"private": 8080, "public": 20000 + number}],
                    "env": {"RELEASE": f"v{number}"},
                },
                author=admin,
                author_name=admin.username,
            )
            for service in services
            for number in range(1, REVISIONS + 1)
        ),
        batch_size=BATCH,
    )
    operations = Operation.objects.bulk_create(
        (
            Operation(
                action="service.deploy",
                status=OperationStatus.SUCCEEDED,
                actor=admin,
                actor_name=admin.username,
                target_type="service",
                target_id=str(revision.service.pk),
                target_name=revision.service.name,
            )
            for revision in revisions
        ),
        batch_size=BATCH,
    )
    Rollout.objects.bulk_create(
        (
            Rollout(
                service=revision.service,
                revision=revision,
                previous_revision=revisions[number - 1] if revision.number > 1 else None,
                status=RolloutStatus.SUCCEEDED,
                operation=operation,
            )
            for number, (revision, operation) in enumerate(zip(revisions, operations, strict=True))
        ),
        batch_size=BATCH,
    )
    for service, newest in zip(services, revisions[REVISIONS - 1 :: REVISIONS], strict=True):
        service.current_revision = newest
    Service.objects.bulk_update(services, ["current_revision"], batch_size=BATCH)


def setup_fleet() -> Any:
    """What does not grow with the fleet: groups, keys, the admin, services."""
    call_command("migrate", verbosity=0)
    admin = get_user_model().objects.create_superuser("bench-admin", "", secrets.token_hex(16))
    for name in GROUPS:
        HostGroup.objects.create(name=name, description=f"{name} hosts")
    HostGroup.objects.bulk_create(
        HostGroup(name=app_group_name(number), description="hosts of a few services")
        for number in range(APP_GROUPS)
    )
    for number in range(4):
        SSHKey.objects.create(
            name=f"fleet key {number}",
            private_key="-----BEGIN OPENSSH PRIVATE KEY-----\n(bench)\n",
            public_key=f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{number:040d} berth",
            fingerprint=f"SHA256:{number:043d}",
        )
    for group in HostGroup.objects.filter(name__in=GROUPS):
        service = Service.objects.create(name=f"shop-{group.name}", host_group=group)
        revisions = []
        for number in (1, 2):
            tag = f"{REGISTRY}/shop/web:v{number}"
            revisions.append(
                Revision.objects.create(
                    service=service,
                    number=number,
                    image=tag,
                    digest=f"{REGISTRY}/shop/web@{image_id(tag)}",
                    spec={"image": tag, "ports": [{"private": 80, "public": 8080}]},
                    author=admin,
                    author_name=admin.username,
                )
            )
        for previous, revision in ((None, revisions[0]), (revisions[0], revisions[1])):
            operation = Operation.objects.create(
                action="service.deploy",
                status=OperationStatus.SUCCEEDED,
                actor=admin,
                actor_name=admin.username,
                target_type="service",
                target_id=str(service.pk),
                target_name=service.name,
            )
            Rollout.objects.create(
                service=service,
                revision=revision,
                previous_revision=previous,
                status=RolloutStatus.SUCCEEDED,
                operation=operation,
            )
        service.current_revision = revisions[1]
        service.save(update_fields=["current_revision"])
    return admin


def pages() -> list[tuple[str, str, dict[str, str]]]:
    first = Host.objects.order_by("name").values_list("pk", flat=True).first()
    app = Service.objects.get(name="app-000").pk
    shop = Service.objects.get(name="shop-edge").pk
    htmx = {"HTTP_HX_REQUEST": "true"}
    return [
        ("fleet overview /", "/", {}),
        ("fleet overview, htmx poll", "/", htmx),
        ("fleet overview ?status=unreachable", "/?status=unreachable", {}),
        ("containers ?q=web&page=2", "/containers/?q=web&page=2", {}),
        ("containers ?state=exited", "/containers/?state=exited", {}),
        ("images", "/images/", {}),
        ("services", "/services/", {}),
        (f"service detail ({REVISIONS} revisions)", f"/services/{app}/", {}),
        ("service detail (large group)", f"/services/{shop}/", {}),
        ("operations", "/operations/", {}),
        ("host detail", f"/hosts/{first}/", {}),
        ("API hosts", "/api/v1/hosts/", {}),
        ("API containers", "/api/v1/containers/", {}),
        ("API containers ?state=running", "/api/v1/containers/?state=running&offset=200", {}),
        ("API images", "/api/v1/images/", {}),
        ("API operations", "/api/v1/operations/", {}),
        ("API services", "/api/v1/services/", {}),
        ("API revisions of a service", f"/api/v1/services/{app}/revisions/", {}),
        ("API rollouts", "/api/v1/rollouts/", {}),
        ("API rollouts of a large service", f"/api/v1/rollouts/?service={shop}", {}),
    ]


def measure(client: Client, runs: int, warmup: int) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name, url, headers in pages():
        try:
            for _ in range(warmup):
                check(client.get(url, **headers), url)  # type: ignore[arg-type]
            with CaptureQueriesContext(connection) as queries:
                client.get(url, **headers)  # type: ignore[arg-type]
            count = len(queries)
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                response = client.get(url, **headers)  # type: ignore[arg-type]
                samples.append(time.perf_counter() - started)
                check(response, url)
        except Exception as exc:  # a failing page is a result too
            results[name] = {"url": url, "error": f"{type(exc).__name__}: {exc}"[:300]}
            continue
        results[name] = {"url": url, "queries": count, **percentiles(samples)}
    return results


def check(response: Any, url: str) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")


def main() -> None:
    logging.getLogger("django.request").setLevel(logging.CRITICAL)  # errors go in the table
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    admin = setup_fleet()
    freeze_loaded_app()  # as berth.wsgi does before a server process's first request
    client = Client()
    client.force_login(admin)
    sizes: dict[int, dict[str, dict[str, Any]]] = {}
    built = 0
    for size in (args.small, args.hosts):
        started = time.perf_counter()
        build(built, size, admin)
        built = size
        print(f"{size} hosts, {Container.objects.count()} containers, "
              f"{Image.objects.count()} images, {Operation.objects.count()} operations, "
              f"{Service.objects.count()} services, {Rollout.objects.count()} rollouts, "
              f"{RolloutHost.objects.count()} rollout steps "
              f"built in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        sizes[size] = measure(client, args.runs, args.warmup)

    # The baseline, in the same process: the large fleet again with the loaded app handed
    # back to the garbage collector, as a server that did not freeze it would run.
    gc.unfreeze()
    unfrozen = measure(client, args.runs, args.warmup)

    small, large = sizes[args.small], sizes[args.hosts]
    s, n = args.small, args.hosts
    print()
    print(f"{'page':<36}{f'q@{s}':>7}{f'q@{n}':>8}{f'p50@{s}':>10}{f'p95@{s}':>10}"
          f"{f'p50@{n}':>11}{f'p95@{n}':>11}{'unfrozen':>10}  (ms)")  # fmt: skip
    differ, failed = [], []
    for name in small:
        a, b = small[name], large[name]
        if "error" in a or "error" in b:
            failed.append(name)
            print(f"{name:<36}  error: {a.get('error') or b.get('error')}")
            continue
        mark = "" if a["queries"] == b["queries"] else "  <- queries grow"
        if mark:
            differ.append(name)
        base = unfrozen[name].get("p95_ms", float("nan"))
        print(f"{name:<36}{a['queries']:>7}{b['queries']:>8}{a['p50_ms']:>10.1f}"
              f"{a['p95_ms']:>10.1f}{b['p50_ms']:>11.1f}{b['p95_ms']:>11.1f}{base:>10.1f}"
              f"{mark}")  # fmt: skip
    slow = [name for name in large if large[name].get("p95_ms", float("inf")) > GOAL_P95_MS]
    print(f"goal: every page p95 <= {GOAL_P95_MS:.0f} ms at {n} hosts -> "
          + ("met" if not slow else f"NOT met ({', '.join(slow)})"))  # fmt: skip
    print(
        f"goal: the same number of queries at {s} and {n} hosts -> "
        + ("met" if not differ else f"NOT met ({', '.join(differ)})")
    )
    write_results(
        "ui_scale",
        {
            "hosts": {"small": s, "large": n},
            "containers_per_host": len(CONTAINERS),
            "runs": args.runs,
            "database": connection.vendor,
            "pages": {
                name: {
                    "url": small[name]["url"],
                    "small": small[name],
                    "large": large[name],
                    "large_unfrozen": unfrozen[name],
                }
                for name in small
            },
            "goal_p95_ms": GOAL_P95_MS,
            "over_goal": slow,
            "queries_equal": not differ,
            "failed": failed,
        },
    )
    if differ or failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
