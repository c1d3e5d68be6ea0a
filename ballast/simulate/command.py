"""The `ballast simulate` command: `add_commands` mounts it in `ballast`, `main` runs it alone (python -m ballast.simulate).

    ballast simulate seed-eks                                  # a built-in scenario, every policy side by side
    ballast simulate my-night.yaml --policy ballast,keda       # your own scenario file
    ballast simulate --from-store --since 24h                  # the day the store recorded, replayed
    ballast simulate --from-store --sweep spec.metrics[0].backlog.targetPerReplica=10,50,200
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from ballast.api_client import Api
from ballast.simulate import from_store, policies, report, sweep
from ballast.simulate.platform import KINDS
from ballast.simulate.run import play, simulate
from ballast.simulate.scenario import Scenario
from ballast.simulate.scenario_file import built_in_names, load
from ballast.simulate.trace import load_trace, scenario_from_stats
from ballast.simulate.units import ScenarioError

USAGE_ERROR = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", nargs="?",
                        help=f"a built-in scenario ({', '.join(built_in_names())}) or a scenario YAML file")
    parser.add_argument("--trace", metavar="FILE",
                        help="play a JSON trace of stored Workloads, NodePools and per-minute stats instead")
    parser.add_argument("--from-store", action="store_true",
                        help="play what the API's store recorded (its Workloads, NodePools and per-minute stats)")
    parser.add_argument("--since", default="24h", metavar="WHEN",
                        help="with --from-store: a duration back from now (90m, 24h) or an ISO time (default: 24h)")
    parser.add_argument("--platform", choices=KINDS, help="the platform a trace runs on (default: guessed)")
    parser.add_argument("--policy", metavar="LIST",
                        help=f"comma-separated policies, of {','.join(policies.POLICIES)} (default: all)")
    parser.add_argument("--sweep", metavar="PATH=V1,V2,...",
                        help="run Ballast over values of a Workload field, e.g. "
                             "spec.metrics[0].backlog.targetPerReplica=10,25,50 (prefix WORKLOAD: for one)")
    parser.add_argument("--seed", type=int, help="the random seed (default: the scenario's, else 1)")
    parser.add_argument("--out", default="out/simulate", metavar="DIR",
                        help="where <scenario>.json and <scenario>.png go (default: out/simulate)")
    parser.add_argument("--no-plot", action="store_true", help="write the JSON only")
    parser.add_argument("--list", action="store_true", help="list the built-in scenarios and exit")


def add_commands(commands) -> None:
    """Mounts `simulate` among `ballast`'s commands; --from-store reads through the command's own API client."""
    command = commands.add_parser("simulate", help="play a scenario or a recorded day through Ballast and baselines",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(command)
    command.set_defaults(run=lambda api, args: ("", run(args, api)))


def run(args: argparse.Namespace, api=None) -> int:
    try:
        return _run(args, api)
    except ScenarioError as error:
        print(f"ballast simulate: {error}", file=sys.stderr)
        return USAGE_ERROR


def _run(args: argparse.Namespace, api) -> int:
    if args.list:
        for name in built_in_names():
            print(f"{name}: {load(name).description}")
        return 0
    scenario = _scenario(args, api)
    names = policies.names(args.policy)
    out = Path(args.out)
    if args.sweep:
        return _sweep(scenario, sweep.parse(args.sweep), out, args.no_plot)
    result = simulate(scenario, names)
    report.print_result(result)
    report.write_json(result, out / f"{scenario.name}.json")
    written = [out / f"{scenario.name}.json"]
    if not args.no_plot:
        report.write_plot(result, out / f"{scenario.name}.png")
        written.append(out / f"{scenario.name}.png")
    print("wrote " + " and ".join(str(p) for p in written))
    return 0


def _scenario(args: argparse.Namespace, api) -> Scenario:
    if sum(map(bool, (args.trace, args.scenario, args.from_store))) > 1:
        raise ScenarioError("", "give one of a scenario, --trace FILE or --from-store")
    if args.from_store:
        if api is None:
            raise ScenarioError("--from-store", "needs the API: pass --endpoint or set BALLAST_API_URL")
        # The report prints the trace's warnings (gaps between recorded minutes), as for --trace.
        return scenario_from_stats(from_store.fetch(api, args.namespace, args.since), platform=args.platform,
                                   name=f"store-{args.namespace}", seed=args.seed if args.seed is not None else 1)
    if args.trace:
        return load_trace(args.trace, platform=args.platform, seed=args.seed if args.seed is not None else 1)
    if not args.scenario:
        raise ScenarioError("", f"name a scenario ({', '.join(built_in_names())}), a YAML file, or --trace FILE")
    if args.platform:
        raise ScenarioError("--platform", "applies to --trace only; a scenario file names its platform")
    scenario = load(args.scenario)
    return scenario if args.seed is None else replace(scenario, seed=args.seed)


def _sweep(scenario: Scenario, chosen: sweep.Sweep, out: Path, no_plot: bool) -> int:
    variants = [(value, sweep.apply(scenario, chosen, value)) for value in chosen.values]  # all checked first
    runs = []
    for value, variant in variants:
        summary, _ = play(variant, "ballast", keep_timeline=False)
        runs.append({"value": value, **summary})
    for run, front in zip(runs, sweep.pareto([(r["cost"], r["makespan_s"]) for r in runs])):
        run["pareto"] = front
    result = {"scenario": scenario.name, "sweep": chosen.label, "platform": scenario.platform.kind, "runs": runs}
    console = report.console()
    console.print(report.sweep_table(result))
    stem = f"{scenario.name}-sweep"
    report.write_json(result, out / f"{stem}.json")
    if not no_plot:
        report.write_sweep_plot(result, out / f"{stem}.png")
    print(f"wrote {out / stem}.json" + ("" if no_plot else f" and {out / stem}.png"))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2, as the rest of the command reports them."""

    def error(self, message: str) -> None:
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="ballast simulate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--endpoint", default=os.environ.get("BALLAST_API_URL"),
                        help="with --from-store: the API's URL (default: $BALLAST_API_URL)")
    parser.add_argument("-n", "--namespace", default="default", help="with --from-store: the namespace to replay")
    args = parser.parse_args(argv)
    return run(args, Api(args.endpoint) if args.from_store and args.endpoint else None)
