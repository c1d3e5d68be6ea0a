"""`make demo`: a batch of photos through the whole system on one machine, watched live, ending in a report and a plot.

    python -m local.demo --n 300 [--photos DIR] [--seed 1] [--out out]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from ballast.console import server as dashboard_server
from local import costs, report
from local.runtime import Runtime, Shape

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}
CHUNK = 50  # photos generated per process task: parallel on every core, and the same bytes whatever the core count
BAD_FRACTION = 0.03
UPLOADERS = 8
SETTLE_S = 90  # after the last job: how long the workloads and nodes get to return to zero before the demo gives up


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="photos to generate (ignored with --photos)")
    parser.add_argument("--photos", type=Path, help="a directory of your photos; subdirectories named after an operation choose it")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bad-fraction", type=float, default=BAD_FRACTION, help="share of bad files among generated photos")
    parser.add_argument("--sizes", default="", help="comma-separated sizes of local/photos.py (12mp,3mp,1080p,small); default: its mix")
    parser.add_argument("--out", type=Path, default=Path("out"))
    parser.add_argument("--timeout", type=float, help="seconds before giving up; default grows with the batch")
    parser.add_argument("--nodes", type=int, default=Shape.nodes, help="local nodes (1 CPU each); default: one per core, at least 2")
    parser.add_argument("--scale-down-after", type=int, default=Shape.node_unneeded_s, metavar="SECONDS",
                        help="how long a local node stays unneeded before it goes (the pool's scaleDownUnneededSeconds)")
    parser.add_argument("--quiet", action="store_true", help="no live view, only the report")
    return parser.parse_args(argv)


# ---- photos -------------------------------------------------------------------------------------------------------


def _generate_chunk(directory: str, seed: int, index: int, count: int, sizes: tuple[str, ...], bad_fraction: float) -> None:
    from local import photos

    chunk_seed = int(hashlib.sha256(f"{seed}/{index}".encode()).hexdigest()[:12], 16)

    def write(name: str, data: bytes) -> None:
        Path(directory, f"{index:03d}-{name}").write_bytes(data)

    photos.generate(write, count, seed=chunk_seed, bad_fraction=bad_fraction, **({"sizes": sizes} if sizes else {}))


def generated_photos(out: Path, n: int, seed: int, sizes: tuple[str, ...], bad_fraction: float, console: Console) -> Path:
    """local/photos.py's photos, cached by (n, seed, sizes, bad fraction): a second run starts at once."""
    directory = out / "photos" / (f"seed{seed}-n{n}-bad{bad_fraction:g}" + "".join(f"-{size}" for size in sizes))
    marker = directory / ".complete"
    if marker.exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    chunks = [(i, min(CHUNK, n - i * CHUNK)) for i in range((n + CHUNK - 1) // CHUNK)]
    started = time.monotonic()
    with busy(console, f"generating {n} photos (seed {seed}) into {directory} …"), ProcessPoolExecutor(os.cpu_count() or 2) as pool:
        for future in as_completed([pool.submit(_generate_chunk, str(directory), seed, i, c, sizes, bad_fraction) for i, c in chunks]):
            future.result()
    marker.write_text("")
    console.print(f"generated {n} photos in {time.monotonic() - started:.0f} s")
    return directory


def plan_uploads(directory: Path, ops: tuple[str, ...]) -> list[tuple[Path, str]]:
    """(file, S3 key): a subdirectory named after an operation chooses it; other files go round the operations."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    plan, spread = [], 0
    for path in files:
        named = next((part for part in path.relative_to(directory).parts[:-1] if part in ops), None)
        op = named or ops[spread % len(ops)]
        spread += named is None
        plan.append((path, f"input/{op}/{path.name}"))
    return plan


def upload(plan: list[tuple[Path, str]], bucket: str) -> dict[str, float]:
    """Concurrent PUTs, as many clients would make them; returns each key's upload-finished time (epoch)."""
    import boto3

    s3 = boto3.client("s3")
    finished: dict[str, float] = {}

    def put(path: Path, key: str) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        finished[key] = time.time()

    with ThreadPoolExecutor(UPLOADERS) as pool:
        for future in as_completed([pool.submit(put, path, key) for path, key in plan]):
            future.result()
    return finished


# ---- the live view ------------------------------------------------------------------------------------------------


def view(timeline, runtime: Runtime, total: int, phase: str, console_url: str = "") -> Group:
    sample = timeline.latest()
    table = Table(title_justify="left", title=f"Ballast local runtime · {phase}")
    for column in ("operation", "queued", "in flight", "done", "failed", "desired/running", "pending", "last tick's decision"):
        table.add_column(column, justify="left" if column in ("operation", "last tick's decision") else "right",
                         no_wrap=column != "last tick's decision", overflow="fold")
    if sample is None:
        return Group(table)
    for op, o in sample.ops.items():
        table.add_row(op, str(o.queued), str(o.in_flight), f"[green]{o.done}", f"[red]{o.failed}" if o.failed else "0",
                      f"{o.desired} / {o.running}" + (f" (stopping {o.stopping})" if o.stopping else ""),
                      f"[yellow]{o.pending}" if o.pending else "0", Text(o.reason or "(no decision yet)", style="dim"))
    pools = Table(title_justify="left", title="node pools")
    for column in ("pool", "desired", "ready", "booting", "last tick's decision"):
        pools.add_column(column, justify="left" if column in ("pool", "last tick's decision") else "right", overflow="fold")
    for name, pool in sample.pools.items():
        pools.add_row(name, str(pool.desired), str(pool.ready), f"[yellow]{pool.booting}" if pool.booting else "0",
                      Text(pool.decision, style="dim"))
    finished = sum(o.done + o.failed for o in sample.ops.values())
    errors = len(runtime.pump.stats.errors) + len(runtime.agent.errors)
    footer = Text.assemble(f"jobs {finished}/{total} finished   ", f"t={sample.t:.0f}s   ",
                           (f"handler errors {errors}" if errors else "", "red"),
                           (f"   handlers' logs: {runtime.out_dir / 'lambda.log'}", "dim"))
    console_line = Text(f"console: {console_url}", style="bold") if console_url else Text("")
    return Group(table, pools, footer, console_line)


def live_view(initial, console: Console, quiet: bool) -> Live:
    """The live table, alone on the terminal: Live would capture stdout and print what the handlers write over the
    table, so it captures nothing, and the handlers' lines go to out/lambda.log (see `route_handler_output`)."""
    return Live(initial, console=console, refresh_per_second=2, transient=False, auto_refresh=not quiet,
                redirect_stdout=False, redirect_stderr=False)


def busy(console: Console, text: str) -> Live:
    """console.status's spinner, but capturing nothing either: the first ticks run while the runtime starts."""
    return Live(Spinner("dots", text), console=console, transient=True, redirect_stdout=False, redirect_stderr=False)


def route_handler_output(path: Path):
    """Where CloudWatch Logs would keep them: the EMF metric documents Powertools prints, and anything else printed.

    The Powertools logger's own stream is pointed at the file by the runtime once the app is imported; this covers
    what is printed rather than logged. Returns the file, which the caller closes.
    """
    stream = open(path, "w", buffering=1)
    sys.stdout = stream
    return stream


# ---- the run ------------------------------------------------------------------------------------------------------


def at_zero(sample) -> bool:
    return sample is not None and all(o.desired == 0 and o.running == 0 and o.stopping == 0 for o in sample.ops.values())


def run(args: argparse.Namespace, console: Console) -> dict:
    from local.timeline import Timeline

    runtime = Runtime(args.out, Shape(nodes=args.nodes, node_unneeded_s=args.scale_down_after))
    timeline, built, dashboard = None, None, None
    try:
        with busy(console, "starting moto, the stack, the API server, the pump and the node agent …"):
            runtime.start()
        # `ballast dashboard`'s server, on the runtime's API: the batch watched live in a browser.
        dashboard = dashboard_server.Console(runtime.api).start()
        console.print(f"console: {dashboard.url}  (open it to watch the batch; it stops with the demo)")
        from chalicelib import config

        ops = config.OPERATIONS
        sizes = tuple(s for s in args.sizes.split(",") if s)
        directory = args.photos or generated_photos(args.out, args.n, args.seed, sizes, args.bad_fraction, console)
        plan = plan_uploads(directory, ops)
        if not plan:
            raise SystemExit(f"no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) under {directory}")
        timeout = args.timeout or 180 + 2 * len(plan)
        workloads = {op: f"photos-{op}" for op in ops}
        timeline = Timeline(runtime, ops, workloads, jobs_period_s=max(2.0, len(plan) / 1000))
        timeline.start()
        started = time.monotonic()
        with live_view(view(timeline, runtime, len(plan), "uploading", dashboard.url), console, args.quiet) as live:
            uploads = upload(plan, config.BUCKET)
            finished_at = None
            while time.monotonic() - started < timeout:
                time.sleep(0.5)
                jobs = [j for j in timeline.jobs if j["spec"].get("key") in uploads]
                finished = sum(j["status"].get("phase") in ("Done", "Failed") for j in jobs)
                if finished == len(uploads) and finished_at is None:
                    finished_at = time.monotonic()
                phase = "draining" if finished_at is None else "scaling back to zero"
                if not args.quiet:
                    live.update(view(timeline, runtime, len(plan), phase, dashboard.url))
                sample = timeline.latest()
                if finished_at is not None and at_zero(sample) and sample.nodes_desired == 0 and sample.nodes_ready == 0:
                    break
                if finished_at is not None and time.monotonic() - finished_at > SETTLE_S and at_zero(sample):
                    break
            live.update(view(timeline, runtime, len(plan), "finished", dashboard.url))
        timeline.stop()
        timeline.refresh_jobs()
        events = runtime.api.get("/events", limit="500").get("items", [])
        built = report.build(
            uploads=uploads, jobs=timeline.jobs, samples=timeline.samples, events=events, ops=ops,
            started_epoch=timeline.started_epoch, invocations=dict(runtime.pump.stats.invocations),
            runtime_errors=[c.error for c in runtime.pump.stats.errors] + runtime.agent.errors + timeline.errors,
            settings={"photos": str(directory), "n": len(plan), "seed": args.seed, "nodes": runtime.shape.nodes,
                      "cpus": os.cpu_count(), "timed_out": time.monotonic() - started >= timeout})
        built["tasks"] = runtime.agent.history
        built["costs"] = costs.estimate(timeline.jobs, uploads)
        report.write(built, args.out)
        report.plot(timeline.samples, ops, args.out / "timeline.png", events=events, started_epoch=timeline.started_epoch,
                    workloads=workloads)
        return built
    finally:
        if timeline is not None:
            timeline.stop()
        if dashboard is not None:
            dashboard.stop()
        with busy(console, "stopping workers, pump, API server and moto …"):
            runtime.stop()
        if built is not None:
            # Written again once every worker has exited, so the report holds their exit codes.
            report.write(built, args.out)


def print_report(built: dict, out: Path, console: Console) -> None:
    console.print()  # the live view's last line (the console's address) may end without one
    table = Table(title="Ballast demo report", title_justify="left")
    for column in ("operation", "uploaded", "done", "failed", "p50 s", "p95 s", "replica-s", "peak replicas", "peak pending"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for op, o in built["ops"].items():
        table.add_row(op, str(o["uploaded"]), str(o["done"]), str(o["failed"]), _fmt(o["latency_p50_s"]),
                      _fmt(o["latency_p95_s"]), _fmt(o["replica_seconds"]), str(o["peak_running"]), str(o["peak_pending"]))
    console.print(table)
    console.print(f"makespan {_fmt(built['makespan_s'])} s · {_fmt(built['images_per_s'])} images/s · "
                  f"p50 {_fmt(built['latency_p50_s'])} s · p95 {_fmt(built['latency_p95_s'])} s · "
                  f"{_fmt(built['replica_seconds'])} replica-s · {_fmt(built['node_seconds'])} node-s · peak nodes {built['peak_nodes']}")
    if built["failed_jobs"]:
        console.print(f"[red]{len(built['failed_jobs'])} failed jobs:")
        for failure in built["failed_jobs"][:20]:
            console.print(f"  {failure['key']}: {failure['reason']}")
    if built["unfinished"]:
        console.print(f"[red]{built['unfinished']} images never finished")
    console.print(f"{len(built['scale_events'])} scale events; the last ones:")
    for event in built["scale_events"][-8:]:
        console.print(f"  {event['time'][11:19]} {event['object']:<24} {event['reason']}: {event['message']}")
    if built["runtime_errors"]:
        console.print(f"[red]{len(built['runtime_errors'])} handler/runtime errors (see {out / 'lambda.log'}, {out / 'runtime.log'})")
    print_costs(built.get("costs") or [], console)
    console.print(f"report: {out / 'report.json'}   plot: {out / 'timeline.png'}")


def print_costs(rows: list[dict], console: Console) -> None:
    """The same uploads at the service times this run measured, simulated on the seed's AWS shapes."""
    if not rows:
        return
    by = {(r["platform"], r["policy"]): r for r in rows}
    table = Table(title="this batch in AWS (simulated: these uploads, the service times measured here)",
                  title_justify="left")
    for column in ("platform", "Ballast", "KEDA + cluster-autoscaler", "cost ratio"):
        table.add_column(column, justify="left" if column == "platform" else "right")
    for platform in dict.fromkeys(r["platform"] for r in rows):
        ours, theirs = by.get((platform, "ballast")), by.get((platform, "keda"))
        if ours is None or theirs is None:
            continue
        table.add_row(platform, f"${ours['cost']:.4f} in {ours['makespan_s']:.0f} s",
                      f"${theirs['cost']:.4f} in {theirs['makespan_s']:.0f} s",
                      f"×{ours['cost'] / theirs['cost']:.2f}" if theirs["cost"] else "-")
    console.print(table)
    console.print("[dim]`ballast simulate seed-eks` shows every policy and the lower bound; the README's What-if says how")


def _fmt(value) -> str:
    return "-" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    console = Console(file=sys.__stdout__)
    import logging

    logging.basicConfig(filename=args.out / "runtime.log", filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The handlers' logs and metrics go where CloudWatch Logs would keep them, not over the live view.
    route_handler_output(args.out / "lambda.log")
    # SIGTERM ends the demo like Ctrl-C: the finally blocks drain the workers and stop every thread.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        built = run(args, console)
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted: everything is stopped")
        return 130
    print_report(built, args.out, console)
    if built["unfinished"] or built["settings"]["timed_out"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
