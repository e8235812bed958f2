"""The table ``maze predictor eval`` and ``benchmarks/predictor.py`` print."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

__all__ = ["evaluation_table", "remaining_table"]


def evaluation_table(figures: Mapping[str, Any], title: str) -> Table:
    """MAE of MaLearn next to the original system's logged predictions, a per-tool EWMA and
    the per-tool median of the last 16 durations."""
    table = Table(title=title, title_justify="left")
    for column in (
        "rows",
        "n",
        "mean actual s",
        "MaLearn MAE s",
        "original MAE s",
        "EWMA MAE s",
        "median-16 MAE s",
        "vs original",
        "vs better baseline",
    ):
        table.add_column(column, justify="right" if column != "rows" else "left")
    for label, key in (
        ("GPU rows the original modelled", "gpu_model_rows"),
        ("all rows the original predicted", "original_rows"),
    ):
        row = figures[key]
        better = min(row["ewma_baseline_mae_s"], row["median16_baseline_mae_s"])
        table.add_row(
            label,
            str(row["rows"]),
            f"{row['mean_actual_s'] or 0:.1f}",
            f"{row['mae_s']:.2f}",
            f"{row['original_mae_s']:.2f}",
            f"{row['ewma_baseline_mae_s']:.2f}",
            f"{row['median16_baseline_mae_s']:.2f}",
            f"{row['mae_s'] / row['original_mae_s']:.2f}x",
            f"{row['mae_s'] / better:.2f}x",
        )
    for kind, row in figures["by_type"].items():
        table.add_row(
            f"all {kind} rows", str(row["rows"]), "", f"{row['mae_s']:.3f}", "", "", "", "", ""
        )
    overall = figures["overall"]
    table.caption = (
        f"{overall['rows']} rows, MAE {overall['mae_s']:.2f} s, MAPE (>= 1 s) "
        f"{overall['mape_ge_1s']:.0%}; predict {figures['predict_us_median']:.1f} µs, "
        f"learn {figures['learn_us_median']:.1f} µs (medians)"
    )
    return table


def remaining_table(figures: Mapping[str, Any], title: str) -> Table:
    """How well each predictor's sum says how much work a run has left (what daps orders
    by): MAE over every task finish, against the actual seconds left."""
    row = figures["remaining_work"]
    table = Table(title=title, title_justify="left")
    for column in ("points", "mean left s", "MaLearn", "EWMA", "median-16", "kind default"):
        table.add_column(column, justify="right")
    cells = [row[f"{name}_mae_s"] for name in ("malearn", "ewma", "median16", "kind_default")]
    table.add_row(
        str(row["points"]),
        f"{row['mean_actual_s'] or 0:.1f}",
        *(f"{value:.2f}" if value is not None else "" for value in cells),
    )
    return table
