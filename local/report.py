"""The demo's report: makespan, throughput, latency, replica-seconds, failures and scale events, as JSON and a timeline plot."""
from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

from local.timeline import DONE, FAILED, Sample

# The events that change a count: a workload's rescale (HPA's reason) and a pool's resize (cluster-autoscaler's).
SCALE_REASONS = ("SuccessfulRescale", "TriggeredScaleUp", "ScaleDown", "AboveMaxNodes")


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: a value that occurred, never an interpolation between two."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _epoch(stamp: str | None) -> float | None:
    return datetime.fromisoformat(stamp).timestamp() if stamp else None


def _integral(samples: list[Sample], value) -> float:
    """Left Riemann sum of value(sample) over the sampled time."""
    return sum(value(a) * (b.t - a.t) for a, b in zip(samples, samples[1:]))


def build(*, uploads: dict[str, float], jobs: list[dict], samples: list[Sample], events: list[dict], ops: tuple[str, ...],
          started_epoch: float, invocations: dict[str, int], runtime_errors: list[str], settings: dict) -> dict:
    """uploads: S3 key → epoch when its upload finished; jobs as the store holds them; samples from the Timeline."""
    mine = [j for j in jobs if j["spec"].get("key") in uploads]
    finished = [j for j in mine if j["status"].get("phase") in (DONE, FAILED)]
    ends = [_epoch(j["status"].get("finishedAt")) for j in finished]
    first_upload = min(uploads.values(), default=started_epoch)
    last_end = max((e for e in ends if e), default=None)
    makespan = (last_end - first_upload) if last_end else None
    latencies: dict[str, list[float]] = {op: [] for op in ops}
    for job, end in zip(finished, ends):
        if end and job["status"].get("phase") == DONE:
            latencies[job["spec"]["op"]].append(end - uploads[job["spec"]["key"]])
    everything = [v for values in latencies.values() for v in values]
    per_op = {}
    for op in ops:
        series = [s.ops[op] for s in samples if op in s.ops]
        per_op[op] = {
            "uploaded": sum(1 for k in uploads if k.split("/")[1] == op),
            "done": sum(1 for j in mine if j["spec"]["op"] == op and j["status"].get("phase") == DONE),
            "failed": sum(1 for j in mine if j["spec"]["op"] == op and j["status"].get("phase") == FAILED),
            "latency_p50_s": _round(percentile(latencies[op], 50)),
            "latency_p95_s": _round(percentile(latencies[op], 95)),
            "replica_seconds": round(_integral(samples, lambda s: s.ops[op].running), 1),
            "peak_desired": max((o.desired for o in series), default=0),
            "peak_running": max((o.running for o in series), default=0),
            "peak_pending": max((o.pending for o in series), default=0),
            "started_at_zero": bool(series) and series[0].desired == 0,
            "ended_at_zero": bool(series) and series[-1].desired == 0 and series[-1].running == 0,
        }
    done = sum(o["done"] for o in per_op.values())
    return {
        "settings": settings,
        "images": len(uploads),
        "done": done,
        "failed": sum(o["failed"] for o in per_op.values()),
        "unfinished": len(uploads) - len(finished),
        "makespan_s": _round(makespan),
        "images_per_s": _round(len(finished) / makespan if makespan else None),
        "latency_p50_s": _round(percentile(everything, 50)),
        "latency_p95_s": _round(percentile(everything, 95)),
        "replica_seconds": round(sum(o["replica_seconds"] for o in per_op.values()), 1),
        "node_seconds": round(_integral(samples, lambda s: s.nodes_ready), 1),
        "peak_nodes": max((s.nodes_ready for s in samples), default=0),
        "ops": per_op,
        "failed_jobs": sorted(({"key": j["spec"]["key"], "op": j["spec"]["op"], "reason": j["status"].get("reason")}
                               for j in mine if j["status"].get("phase") == FAILED), key=lambda f: f["key"]),
        "scale_events": [{"time": e["time"], "object": f"{e['involvedObject']['kind']}/{e['involvedObject']['name']}",
                          "type": e.get("type"), "reason": e["reason"], "message": e["message"]}
                         for e in sorted(events, key=lambda e: e["time"])],
        "invocations": invocations,
        "runtime_errors": runtime_errors,
        "timeline": [{"t": round(s.t, 2), "nodes": s.nodes_ready, "nodesDesired": s.nodes_desired,
                      "ops": {op: {"backlog": o.queued + o.in_flight, "desired": o.desired, "running": o.running,
                                   "pending": o.pending, "done": o.done, "failed": o.failed} for op, o in s.ops.items()}}
                     for s in samples],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def write(report: dict, out_dir: Path) -> Path:
    path = out_dir / "report.json"
    path.write_text(json.dumps(report, indent=2))
    return path


def scale_marks(events: list[dict], started_epoch: float) -> dict[str, list[tuple[float, str]]]:
    """Seconds since the timeline started of every scale event, by involved object ("Workload/photos-thumbnail")."""
    marks: dict[str, list[tuple[float, str]]] = {}
    for event in events:
        if event.get("reason") not in SCALE_REASONS:
            continue
        involved = f"{event['involvedObject']['kind']}/{event['involvedObject']['name']}"
        marks.setdefault(involved, []).append((_epoch(event["time"]) - started_epoch, event["reason"]))
    return marks


def plot(samples: list[Sample], ops: tuple[str, ...], path: Path, events: list[dict] = (), started_epoch: float = 0.0,
         workloads: dict[str, str] | None = None) -> Path:
    """Per operation backlog against desired and running replicas, nodes, and done/failed jobs over time; a dotted
    line at every scale event (a rescale of that workload, a node pool's resize). Counts get integer ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    marks = scale_marks(list(events), started_epoch)
    figure, axes = plt.subplots(len(ops) + 2, 1, figsize=(10, 2.6 * (len(ops) + 2)), sharex=True)
    t = [s.t for s in samples]
    for axis, op in zip(axes, ops):
        axis.plot(t, [s.ops[op].queued + s.ops[op].in_flight for s in samples], color="tab:blue", label="backlog (queued + in flight)")
        axis.set_ylabel("messages", color="tab:blue")
        axis.set_ylim(bottom=0)
        axis.set_title(f"{op}", loc="left", fontsize=10)
        replicas = axis.twinx()
        replicas.step(t, [s.ops[op].desired for s in samples], where="post", color="tab:orange", linestyle="--", label="replicas desired")
        replicas.step(t, [s.ops[op].running for s in samples], where="post", color="tab:green", label="replicas running")
        replicas.set_ylabel("replicas")
        replicas.set_ylim(bottom=0)
        for axis_ in (axis, replicas):
            axis_.yaxis.set_major_locator(MaxNLocator(integer=True))
        _mark(axis, marks.get(f"Workload/{(workloads or {}).get(op, f'photos-{op}')}", []), "tab:orange", "rescale")
        lines = [line for line in axis.get_lines() + replicas.get_lines() if not line.get_label().startswith("_")]
        axis.legend(lines, [line.get_label() for line in lines], loc="upper right", fontsize=8)
    nodes = axes[len(ops)]
    nodes.step(t, [s.nodes_desired for s in samples], where="post", color="tab:purple", linestyle="--", label="nodes desired")
    nodes.step(t, [s.nodes_ready for s in samples], where="post", color="tab:red", label="nodes ready")
    nodes.set_ylabel("nodes")
    nodes.set_ylim(bottom=0)
    nodes.yaxis.set_major_locator(MaxNLocator(integer=True))
    for involved, times in marks.items():
        if involved.startswith("NodePool/"):
            _mark(nodes, times, "tab:purple", "pool resize")
    nodes.legend(loc="upper right", fontsize=8)
    jobs = axes[-1]
    for op, color in zip(ops, ("tab:blue", "tab:green", "tab:orange", "tab:brown")):
        jobs.plot(t, [s.ops[op].done for s in samples], color=color, label=f"{op} done")
        jobs.plot(t, [s.ops[op].failed for s in samples], color=color, linestyle=":", label=f"{op} failed")
    jobs.set_ylabel("jobs")
    jobs.set_ylim(bottom=0)
    jobs.yaxis.set_major_locator(MaxNLocator(integer=True))
    jobs.set_title("jobs finished", loc="left", fontsize=10)
    jobs.legend(loc="lower right", fontsize=8, ncol=len(ops))
    jobs.set_xlabel("seconds since the runtime started")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _mark(axis, times: list[tuple[float, str]], color: str, label: str) -> None:
    for index, (at, _) in enumerate(times):
        axis.axvline(at, color=color, linestyle=":", linewidth=1.3, alpha=0.9, label=label if index == 0 else "_nolegend_")
