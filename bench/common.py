"""What the benchmark scripts share: percentiles of timings, and where results go."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds of timings taken in seconds, and how many there were."""
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000,
        "runs": len(ordered),
    }


def write_results(name: str, results: Any, out: Path | None = None) -> Path:
    """Write ``results`` as JSON to bench/results/NAME.json (or ``out``) and say where."""
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    print(f"written to {shown}")
    return path
