"""What `ballast simulate` shows: one table with a row per policy, the run as JSON, and a plot of backlog, replicas, nodes."""
from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

# The seed's faults are counted for every real policy; the bound plays no policy, so its cells stay empty.
FAULTS = ("scale_ups_on_empty", "nodes_added_work_done", "pending_beyond_boot_s", "most_pending", "direction_changes")


def console() -> Console:
    """Wide enough for the table when the output is not a terminal (a file, a pipe, a test)."""
    probe = Console()
    return Console(width=max(probe.width, 180), highlight=False)


def table(result: dict) -> Table:
    title = f"{result['scenario']} on {result['platform']}: {result['items']:,} items, seed {result['seed']}"
    grid = Table(title=title, title_justify="left")
    for header in ("policy", "makespan", "p50", "p95", "node-s", "task-s", "cost $", "empty ups", "done adds",
                   "pend>boot", "max pend", "flips", "late"):
        grid.add_column(header, justify="left" if header == "policy" else "right", no_wrap=True)
    for run in result["runs"]:
        ratios = run.get("vs_lower_bound", {})
        bound = run["policy"] == "lower-bound"
        cells = [run["policy"],
                 _seconds(run["makespan_s"], ratios.get("makespan_s"), run["unfinished"]),
                 _seconds(run["p50_s"], ratios.get("p50_s")), _seconds(run["p95_s"], ratios.get("p95_s")),
                 _amount(run["node_seconds"], ratios.get("node_seconds")),
                 _amount(run["task_seconds"], ratios.get("task_seconds")),
                 _money(run["cost"], ratios.get("cost"))]
        cells += ["—" if bound else _plain(run[f]) for f in FAULTS]
        cells.append(_plain(run["late"]))
        grid.add_row(*cells)
    grid.caption = LEGEND
    return grid


LEGEND = ("×: ratio to the lower bound (whose costs are the work over allocatable capacity). empty ups: scale-ups with "
          "queue and in-flight empty; done adds: nodes added with all arrived work done; pend>boot: task-seconds "
          "pending while no node booted; max pend: most tasks pending at once; flips: scale direction changes; "
          "late: items past their latency bound")


def _ratio(value: float | None) -> str:
    return "" if value is None else f" ×{value:.2f}"


def _seconds(value: float | None, ratio: float | None, unfinished: int = 0) -> str:
    if value is None:
        return f"unfinished ({unfinished:,})" if unfinished else "—"
    return f"{value:,.0f} s{_ratio(ratio)}"


def _amount(value: float, ratio: float | None) -> str:
    return f"{value:,.0f}{_ratio(ratio)}"


def _money(value: float, ratio: float | None) -> str:
    return f"{value:,.3f}{_ratio(ratio)}"


def _plain(value) -> str:
    return f"{value:,.0f}" if isinstance(value, float) else f"{value:,}"


def print_result(result: dict, out: Console | None = None) -> None:
    out = out or console()
    for warning in result.get("warnings", ()):
        out.print(f"warning: {warning}")
    out.print(table(result))


def write_json(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")


def write_plot(result: dict, path: Path) -> None:
    """Backlog, desired replicas and nodes over time, one line per policy."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the file is the output
    from matplotlib import pyplot

    runs = [run for run in result["runs"] if run.get("timeline")]
    figure, axes = pyplot.subplots(3, 1, figsize=(11, 9), sharex=True)
    for run in runs:
        line = run["timeline"]
        minutes = [t / 60 for t in line["t"]]
        for axis, key in zip(axes, ("backlog", "desired", "nodes")):
            axis.plot(minutes, line[key], label=run["label"], linewidth=1.2)
    for axis, title in zip(axes, ("backlog (visible + in flight)", "desired replicas", "nodes")):
        axis.set_ylabel(title)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes")
    axes[0].legend(fontsize=8, loc="upper right")
    figure.suptitle(f"{result['scenario']} on {result['platform']}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    pyplot.close(figure)


def sweep_table(result: dict) -> Table:
    grid = Table(title=f"{result['scenario']}: sweep of {result['sweep']} (Ballast)", title_justify="left")
    for header in ("value", "makespan", "p95", "node-s", "task-s", "cost $", "pending>boot s", "not beaten"):
        grid.add_column(header, justify="right")
    for run in result["runs"]:
        grid.add_row(_plain(run["value"]) if isinstance(run["value"], (int, float)) else str(run["value"]),
                     _seconds(run["makespan_s"], None, run["unfinished"]), _seconds(run["p95_s"], None),
                     _amount(run["node_seconds"], None), _amount(run["task_seconds"], None),
                     _money(run["cost"], None), _plain(run["pending_beyond_boot_s"]),
                     "◆" if run["pareto"] else "")
    grid.caption = "◆: no other value is as cheap and as fast with one of them better (the cost/makespan front)"
    return grid


def write_sweep_plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axis = pyplot.subplots(figsize=(7, 5))
    for run in result["runs"]:
        if run["makespan_s"] is None:
            continue
        axis.scatter(run["makespan_s"], run["cost"], marker="D" if run["pareto"] else "o",
                     color="tab:red" if run["pareto"] else "tab:blue")
        axis.annotate(str(run["value"]), (run["makespan_s"], run["cost"]), textcoords="offset points", xytext=(5, 5))
    axis.set_xlabel("makespan (s)")
    axis.set_ylabel("cost ($)")
    axis.set_title(f"{result['scenario']}: {result['sweep']}")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    pyplot.close(figure)
