"""Replays recorded observations through the decision core (DESIGN.md "The decision core") and prints its decisions as JSON lines.

Usage: `python -m local.replay < observations.jsonl`, or `python -m local.replay observations.jsonl [--history]`.

Input, one JSON object per line (blank lines and lines starting with `#` are skipped):

- A line with `"workloads"` and/or `"nodePools"` sets the specs: lists of manifests exactly as the API accepts them
  (`{"metadata": {"name": ...}, "spec": {...}}`), validated and defaulted by `spec.parse_spec`.
- Every other line is one tick: `{"now": "2024-05-01T12:00:00+00:00", "observations": {<workload>: {...}},
  "nodes": {<pool>: {"nodes": 2}}}`. An observation has the fields of `core.types.Observation`: `replicas`, `ready`,
  `queue` (`{"visible", "in_flight", "delayed"}`, or null when it could not be read), `resources`
  (`{"cpu": {"pods": [...], "average_utilization": 42}}`), `external` (`{key: value}`), `throughput`
  (`[{"items", "replica_seconds"}]`), `startup_s`, `arrival_per_s`.
  Leave out `replicas` to continue from the previous tick's decision, as if the shell had acted on it; leave out a
  pool in `nodes` likewise.

History (HPA recommendations and scale events, the queue's last non-empty time, learned throughput, unneeded nodes)
is carried from tick to tick in memory, exactly as the controller carries it through the store.

Output, one line per tick: `{"now", "workloads": {<name>: {"replicas", "reason", "message", "metric", "conditions",
"events"}}, "pools": {<name>: {"nodes", "reason", "message", "tasks", "conditions", "events"}}}`; `--history` adds
each object's history.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Iterable, Iterator, TextIO

from chalicelib import model, spec
from chalicelib.core.decide import decide_tick
from chalicelib.core.types import Observation, PoolObservation


def replay(lines: Iterable[str], with_history: bool = False) -> Iterator[dict]:
    """Each tick's decisions, in order, for a stream of JSON lines in the format above."""
    workloads, pools = {}, {}
    histories, pool_histories, replicas, nodes = {}, {}, {}, {}
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        record = json.loads(line)
        if "workloads" in record or "nodePools" in record:
            workloads.update({w.name: w for w in (model.workload_from(spec.parse_spec("Workload", m))
                                                  for m in record.get("workloads", ()))})
            pools.update({p.name: p for p in (model.nodepool_from(spec.parse_spec("NodePool", m))
                                              for m in record.get("nodePools", ()))})
            continue
        now = datetime.fromisoformat(record["now"])
        observed = {name: Observation.from_dict({"replicas": replicas.get(name, 0), **data})
                    for name, data in record.get("observations", {}).items() if name in workloads}
        nodes.update({name: data["nodes"] for name, data in record.get("nodes", {}).items()})
        tick = decide_tick(tuple(workloads.values()), pools, observed, histories,
                           {name: PoolObservation(count) for name, count in nodes.items()}, now, pool_histories)
        histories.update({name: d.history for name, d in tick.workloads.items()})
        pool_histories.update({name: d.history for name, d in tick.pools.items()})
        replicas.update({name: d.replicas for name, d in tick.workloads.items()})
        nodes.update({name: d.nodes for name, d in tick.pools.items()})
        yield _shown(now, tick.to_dict(), with_history)


def _shown(now: datetime, tick: dict, with_history: bool) -> dict:
    if not with_history:
        for group in ("workloads", "pools"):
            for decision in tick[group].values():
                decision.pop("history")
    return {"now": now.isoformat(), **tick}


def main(argv: list[str] | None = None, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.replay", description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="JSON-lines file of specs and observations (default: stdin)")
    parser.add_argument("--history", action="store_true", help="also print each decision's history")
    args = parser.parse_args(argv)
    try:
        source = open(args.path, encoding="utf-8") if args.path else stdin
    except OSError as error:
        print(f"python -m local.replay: cannot read {args.path}: {error.strerror}", file=sys.stderr)
        return 2
    try:
        with source:
            for decision in replay(source, args.history):
                stdout.write(json.dumps(decision, sort_keys=True, default=str) + "\n")
            stdout.flush()
    except BrokenPipeError:
        # The reader (head, less) went away: stop quietly, and keep the interpreter's exit flush from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
