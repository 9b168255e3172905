#!/usr/bin/env python3
"""Full state refresh of N hosts (N = 10, 50, 100) by W Celery worker processes
(W = 1, 2, 4): wall time from queueing the fleet refresh (the beat task) to the last
host's state stored, first with new connections (cold), then with pooled sessions
(warm, median of --runs). Then the same warm refresh with 10% of the hosts cut off,
and the resident memory of a worker process holding sessions to every host.

The hosts are the light hosts of `scripts/testbed scale N`: real namespaces with
their own sshd and agent, all driving h1's dockerd. Berth runs for real around them:
a Redis started here, `celery worker` processes, a throwaway SQLite database.
Results also go to bench/results/fleet_refresh.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="berth-bench-refresh-"))
ENV = {
    "DJANGO_SETTINGS_MODULE": "berth.settings",
    "DATABASE_URL": f"sqlite:///{WORK / 'bench.sqlite3'}",
    "BERTH_LOG_LEVEL": "WARNING",
    "BERTH_DEBUG": "true",
    "BERTH_VAR_DIR": str(WORK / "var"),
}
os.environ.update(ENV)
sys.path.insert(0, str(REPO))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bench.common import write_results  # noqa: E402
from berth.celery import app as celery_app  # noqa: E402
from hosts import services as hosts  # noqa: E402
from hosts.models import Host, HostStatus  # noqa: E402
from hosts.tasks import refresh_fleet  # noqa: E402
from tests.fleet import load_fleet  # noqa: E402

SIZES = (10, 50, 100)
WORKERS = (1, 2, 4)
GOALS = {"refresh_100_hosts_4_workers_s": 3.0, "worker_rss_100_sessions_mb": 200.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--dir", str(WORK)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def testbed(*args: str) -> None:
    subprocess.run([str(REPO / "scripts" / "testbed"), *args], check=True, capture_output=True)


class Workers:
    """W real `celery worker` processes, one per shard queue (BERTH_HOST_SHARDS=W):
    each host is refreshed, and keeps its session, in one worker process only."""

    def __init__(self, processes: int, env: dict[str, str]) -> None:
        celery_app.control.purge()  # refreshes queued by registering hosts: not measured
        settings.BERTH_HOST_SHARDS = processes
        self.processes = []
        for index in range(processes):
            queues = f"hosts.{index}" + (",celery" if index == 0 else "")
            log = WORK / f"worker-{processes}-{index}.log"
            with open(log, "w") as out:
                argv = [
                    sys.executable, "-m", "celery", "-A", "berth", "worker", "--pool", "prefork",
                    "--concurrency", "1", "-Q", queues, "--loglevel", "WARNING",
                    "--without-gossip", "--without-mingle", "-n", f"bench-{processes}-{index}@%h",
                ]  # fmt: skip
                self.processes.append(
                    subprocess.Popen(
                        argv,
                        cwd=REPO,
                        env={**env, "BERTH_HOST_SHARDS": str(processes)},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + 60
        while len(celery_app.control.ping(timeout=0.5)) < processes:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                raise SystemExit(f"the workers did not start; logs in {WORK}")

    def pool_processes(self) -> list[int]:
        """The prefork children, where tasks run and the sessions live."""
        pids = []
        for process in self.processes:
            path = Path(f"/proc/{process.pid}/task/{process.pid}/children")
            pids += [int(pid) for pid in path.read_text().split()]
        return pids

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed_refresh(count: int, timeout: float = 300) -> float:
    """Queue the fleet refresh as beat does; wait until every host was checked since."""
    Host.objects.update(last_checked_at=None)
    started = time.perf_counter()
    refresh_fleet.delay()
    while Host.objects.filter(last_checked_at__isnull=True).exists():
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"the refresh of {count} hosts did not finish in {timeout} s")
        time.sleep(0.01)
    return time.perf_counter() - started


def register(fleet, count: int) -> None:
    """Register the first ``count`` light hosts (those not registered yet)."""
    first = Host.objects.select_related("ssh_key").first()
    key = first.ssh_key if first else None
    if key is None:
        key = hosts.create_ssh_key(
            name="bench", private_key=Path(fleet.hosts[0].private_key).read_text()
        )
    for host in fleet.hosts[Host.objects.count() : count]:
        hosts.register_host(
            name=host.name,
            address=host.address,
            ssh_key=key,
            host_key=host.host_key,
            docker_host=host.docker_host,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm refreshes per case")
    parser.add_argument("--out", help="JSON file (default bench/results/fleet_refresh.json)")
    args = parser.parse_args()

    biggest = max(SIZES)
    testbed("scale", str(biggest))
    fleet = load_fleet("scale-inventory.json")
    redis, redis_url = start_redis()
    settings.CELERY_BROKER_URL = redis_url
    celery_app.conf.broker_url = redis_url
    call_command("migrate", verbosity=0)
    env = {
        **os.environ,
        **ENV,
        "BERTH_REDIS_URL": redis_url,
        "BERTH_SECRET_KEY": settings.SECRET_KEY,
        "BERTH_ENCRYPTION_KEY": ",".join(settings.BERTH_ENCRYPTION_KEYS),
    }
    connect_timeout = settings.BERTH_SSH_CONNECT_TIMEOUT
    rows: list[dict] = []
    unreachable: list[dict] = []
    memory: dict = {}
    try:
        for size in SIZES:
            register(fleet, size)
            for processes in WORKERS:
                worker = Workers(processes, env)
                try:
                    cold = timed_refresh(size)
                    warm = statistics.median(timed_refresh(size) for _ in range(args.runs))
                    online = Host.objects.filter(status=HostStatus.ONLINE).count()
                    row = {
                        "hosts": size, "workers": processes, "cold_s": round(cold, 3),
                        "warm_s": round(warm, 3), "per_host_ms": round(warm / size * 1000, 1),
                        "online": online,
                    }  # fmt: skip
                    rows.append(row)
                    print(
                        f"  N={size:<3} W={processes}  cold {cold:6.2f} s  warm {warm:6.2f} s  "
                        f"({row['per_host_ms']:.1f} ms/host, {online}/{size} online)",
                        flush=True,
                    )
                    if size == biggest:
                        if processes == 1:
                            memory = {
                                "sessions": online,
                                "worker_process_rss_mb": round(
                                    rss_mb(worker.pool_processes()[0]), 1
                                ),
                                "worker_main_rss_mb": round(rss_mb(worker.processes[0].pid), 1),
                            }
                        unreachable.append(cut_off_run(fleet, size, processes, warm))
                finally:
                    worker.stop()
    finally:
        redis.terminate()
        redis.wait(10)
        testbed("scale", "0")
        shutil.rmtree(WORK, ignore_errors=True)

    report(rows, unreachable, memory, connect_timeout, args.out)


def cut_off_run(fleet, size: int, processes: int, baseline: float) -> dict:
    cut = [host.name for host in fleet.hosts[:size:10]]  # every tenth host: 10%
    for name in cut:
        testbed("link", "down", name)
    try:
        wall = timed_refresh(size)
        unreachable = Host.objects.filter(status=HostStatus.UNREACHABLE).count()
    finally:
        for name in cut:
            testbed("link", "up", name)
    result = {
        "hosts": size, "workers": processes, "cut_off": len(cut), "baseline_s": round(baseline, 3),
        "wall_s": round(wall, 3), "growth_s": round(wall - baseline, 3),
        "marked_unreachable": unreachable,
    }  # fmt: skip
    print(
        f"  N={size} W={processes}  {len(cut)} cut off: {wall:6.2f} s "
        f"(+{wall - baseline:.2f} s), {unreachable} marked unreachable",
        flush=True,
    )
    return result


def report(rows, unreachable, memory, connect_timeout, out) -> None:
    print()
    print("fleet refresh (wall time, queue to last host stored)")
    print(f"{'hosts':>5} {'workers':>7} {'cold s':>8} {'warm s':>8} {'ms/host':>8} {'online':>7}")
    for r in rows:
        print(
            f"{r['hosts']:>5} {r['workers']:>7} {r['cold_s']:>8.2f} {r['warm_s']:>8.2f} "
            f"{r['per_host_ms']:>8.1f} {r['online']:>7}"
        )
    print()
    print(f"10% cut off (connect timeout {connect_timeout:g} s)")
    print(f"{'hosts':>5} {'workers':>7} {'base s':>8} {'wall s':>8} {'growth':>8} {'bound':>6}")
    for u in unreachable:
        ok = "ok" if u["growth_s"] <= connect_timeout else "OVER"
        print(
            f"{u['hosts']:>5} {u['workers']:>7} {u['baseline_s']:>8.2f} {u['wall_s']:>8.2f} "
            f"{u['growth_s']:>8.2f} {ok:>6}"
        )
    print()
    print(
        f"memory: a worker process holding {memory.get('sessions')} sessions: "
        f"{memory.get('worker_process_rss_mb')} MB RSS "
        f"(goal <= {GOALS['worker_rss_100_sessions_mb']:g} MB)"
    )
    best = next((r for r in rows if r["hosts"] == 100 and r["workers"] == 4), None)
    if best:
        print(
            f"goal: 100 hosts, 4 workers: warm {best['warm_s']:.2f} s "
            f"(goal <= {GOALS['refresh_100_hosts_4_workers_s']:g} s)"
        )
    write_results(
        "fleet_refresh",
        {
            "refresh": rows,
            "unreachable": unreachable,
            "memory": memory,
            "connect_timeout_s": connect_timeout,
            "goals": GOALS,
        },
        Path(out) if out else None,
    )


if __name__ == "__main__":
    main()
