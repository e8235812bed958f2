"""Tables of simulation results, for ``maze sim`` and the benchmarks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

__all__ = ["policy_table"]

COLUMNS = (
    ("workflows", "workflows", "{:.0f}"),
    ("P50 s", "p50_s", "{:.1f}"),
    ("P95 s", "p95_s", "{:.1f}"),
    ("P99 s", "p99_s", "{:.1f}"),
    ("worst P95", "worst_window_p95_s", "{:.1f}"),
    ("wf/min", "throughput_per_min", "{:.2f}"),
    ("makespan s", "makespan_s", "{:.0f}"),
    ("GPU busy", "gpu_busy_share", "{:.0%}"),
    ("model loads", "model_loads", "{:.0f}"),
    ("decision µs", "decision_us_median", "{:.1f}"),
)


def policy_table(results: Mapping[str, Mapping[str, Any]], title: str) -> Table:
    """One row per policy; the last column compares P95 with ``maze-original`` if present."""
    table = Table(title=title, title_justify="left")
    table.add_column("policy", no_wrap=True, min_width=13)
    for header, _, _ in COLUMNS:
        table.add_column(header, justify="right")
    baseline = results.get("maze-original", {}).get("p95_s")
    if baseline:
        table.add_column("P95 vs maze-orig.", justify="right")
    for policy, row in results.items():
        cells = [fmt.format(row[key]) for _, key, fmt in COLUMNS]
        if baseline:
            cells.append(f"{row['p95_s'] / baseline:.2f}")
        table.add_row(policy, *cells)
    return table
