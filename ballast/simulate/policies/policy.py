"""What the engine asks of a policy: its resting state, a look at each whole second, and (if it wants) each arrival."""
from __future__ import annotations

import random
from typing import Protocol


class Policy(Protocol):
    name: str  # the --policy spelling: "keda"
    label: str  # the report's: "KEDA + cluster-autoscaler"

    def start(self, cluster) -> None:
        """Takes the cluster and puts it in the policy's resting state (cluster.preload) before time zero."""

    def tick(self, t: int) -> None:
        """Second `t` of the run: observe and act if this policy's loops are due."""

    def on_arrival(self, workload: str, at: float) -> None:
        """An item landed in the workload's queue (ingest's moment: Ballast nudges its controller here)."""


def due(t: int, every_s: float, phase_s: float = 0.0) -> bool:
    """Whether a loop running every `every_s` seconds from `phase_s` runs at second `t` (a resync period's timer)."""
    period = max(1, round(every_s))
    return t >= phase_s and (t - round(phase_s)) % period == 0


def phase(scenario, loop: str, every_s: float) -> int:
    """Where in its period a controller's loop runs: a seeded draw, as a real one runs from whenever it started.

    A fixed phase would hand every loop the same luck against a burst landing at a round second; a draw from the
    scenario's seed is the same for every policy of one run and different between seeds.
    """
    return int(random.Random(f"{scenario.seed}:phase:{loop}").uniform(0, max(1.0, every_s)))
