"""The controller's act step: a scaling call only where the decided count differs from the observed one."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib import config
from chalicelib.control.explain import event, why
from chalicelib.core.types import Decision, History, NodeDecision, Observation
from chalicelib.errors import BallastError
from chalicelib.model import Condition, NodePool, Workload
from chalicelib.telemetry import logger

FAILED_RESCALE = "FailedRescale"  # HPA's reason, verbatim
DRY_RUN = "DryRun"


@dataclass(frozen=True)
class Outcome:
    """What acting did, and what the status and events must say of it."""

    acted: bool
    events: list  # Event values of a workload; event dicts of a pool
    conditions: list[Condition]
    history: History | None = None  # a workload's memory as it stands after the call
    requested: int | None = None  # a pool's size as the node group took it


def is_dry_run(obj: Workload | NodePool) -> bool:
    return obj.dry_run or config.DRY_RUN


def scale_workload(adapters, workload: Workload, status: dict, observation: Observation, decision: Decision,
                   now: datetime) -> Outcome | None:
    """Scales the target to the decision; None when the spec changed meanwhile (nothing acted, nothing to record)."""
    events, conditions, acted = list(decision.events), list(decision.conditions), False
    if decision.replicas != observation.replicas:
        if is_dry_run(workload):
            events = [event(workload, "Normal", DRY_RUN, f"would scale {observation.replicas} → {decision.replicas} "
                            f"(dry run): {decision.message}", now)]
            logger.info("would scale", extra={"workload": workload.name, "from": observation.replicas,
                                              "to": decision.replicas, "reason": decision.reason})
        elif _spec_moved(adapters.store, workload):
            # Acting on the spec this tick read would undo, until the next tick, a `ballast scale` or patch made
            # meanwhile (a user pinning a workload at zero would see it scaled up): the next tick decides on the new one.
            logger.info("spec changed during the tick, not acted on", extra={"workload": workload.name,
                                                                              "to": decision.replicas})
            return None
        else:
            try:
                adapters.fleets.set_desired(workload.target, decision.replicas)
                acted = True
                logger.info("scaled", extra={"workload": workload.name, "from": observation.replicas,
                                             "to": decision.replicas, "reason": decision.reason})
            except BallastError as error:
                conditions = _unable(conditions, error)
                events = [event(workload, "Warning", FAILED_RESCALE,
                                f"New size: {decision.replicas}; error: {why(error)}", now)]
                logger.warning("rescale failed", extra={"workload": workload.name, "to": decision.replicas,
                                                        "error": why(error)})
    history = decision.history
    if not acted and decision.replicas != observation.replicas and not is_dry_run(workload):
        # The scale call failed: the core recorded a scale event that did not happen; keep the old memory of scaling.
        old = History.from_dict(status.get("history"))
        history = replace(history, scale_up_events=old.scale_up_events, scale_down_events=old.scale_down_events,
                          last_scale_at=old.last_scale_at)
    return Outcome(acted, events, conditions, history)


def resize_pool(adapters, pool: NodePool, state, decision: NodeDecision, now: datetime) -> Outcome:
    events, conditions, acted = [e.to_dict() for e in decision.events], list(decision.conditions), False
    requested = state.desired
    if decision.nodes != state.desired:
        if is_dry_run(pool):
            events = [event(pool, "Normal", DRY_RUN, f"would resize {state.desired} → {decision.nodes} nodes (dry run): "
                            f"{decision.message}", now).to_dict()]
        else:
            try:
                requested = adapters.nodegroups.set_desired(pool, decision.nodes, state)
                acted = requested != state.desired
                if acted:
                    logger.info("resized", extra={"nodePool": pool.name, "from": state.desired, "to": requested,
                                                  "reason": decision.reason})
            except BallastError as error:
                conditions = _unable(conditions, error)
                events = [event(pool, "Warning", FAILED_RESCALE, f"New size: {decision.nodes}; error: {why(error)}",
                                now).to_dict()]
                logger.warning("resize failed", extra={"nodePool": pool.name, "to": decision.nodes, "error": why(error)})
    return Outcome(acted, events, conditions, requested=requested)


def _unable(conditions: list[Condition], error: BallastError) -> list[Condition]:
    return [c for c in conditions if c.type != "AbleToScale"] + [Condition("AbleToScale", False, FAILED_RESCALE,
                                                                           why(error))]


def _spec_moved(store, workload: Workload) -> bool:
    """Whether the Workload's spec changed (or it went) since the tick read it; read only when about to scale."""
    try:
        return store.get("Workload", workload.namespace, workload.name)["metadata"]["generation"] != workload.generation
    except BallastError:
        return True  # gone, or the store unreachable: nothing to act on safely this tick
