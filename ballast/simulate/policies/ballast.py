"""The Workloads as given: the real decision core, `chalicelib.core.decide.decide_tick`, driven as the controller drives it.

What chalicelib/control does around the core, re-done here over the simulated platform (the simulator may import
the core, never the controller):
- the lease loop (control/loop.py): an invocation starts on the one-minute schedule or on a nudge, ticks at once and
  then every BALLAST_TICK_INTERVAL_S (15 s) until SAFETY_MARGIN_S (8 s) before its 60 s Lambda timeout, and ends
  after an idle tick; one out of time with work going on hands off to the next through the nudge queue; an
  invocation finding the lease held writes a wake request, which the holder polls every second (WAKE_POLL_S) and
  answers with a tick;
- the nudge (photos/ingest.py, should_wake): an arrival for a workload whose stored status shows no desired replicas,
  with nothing pausing it and at zero, sends a message that starts (or wakes) the controller;
- observe (control/observe.py): replicas = the fleet's desired count, ready = running, pending; the queue's visible
  and in-flight messages; the stats of this minute and the one before, every tick (core/tracking.py folds them:
  completions since the last reading, the last minute's arrival rate, the newest arrival stamp); start-up timing of
  a workload's scale-up and boot timing of a pool's;
- record (control/record.py): the status written each tick (history, statsSeen, arrivalPerSecond, startup,
  startupSeconds, desired and current replicas; a pool's history, boot and bootSeconds) goes through JSON and comes
  back as the next tick's, exactly as the store round-trips it.
"""
from __future__ import annotations

import heapq
import json
import math
from datetime import datetime, timezone

from chalicelib.core import backlog, tracking
from chalicelib.core.decide import decide_tick
from chalicelib.core.types import History, Observation, PoolHistory, PoolObservation, QueueDepth, ResourceUsage
from chalicelib.model import ResourceMetric, workload_from

from ballast.simulate.fleet import PENDING, RUNNING, STARTING, STOPPING

SCHEDULE_S = 60  # app.py: @app.schedule(Rate(1, unit=Rate.MINUTES))
LAMBDA_TIMEOUT_S = 60  # .chalice/config.json: lambda_timeout
SAFETY_MARGIN_S = 8.0  # control/loop.py
TICK_INTERVAL_S = 15.0  # .chalice/config.json: BALLAST_TICK_INTERVAL_S
FOLLOW_UP_S = 5.0  # control/loop.py: the next tick after one that woke a workload from zero
# The nudge is an SQS message to on_nudge: Lambda's poller hands it over in about a second (an assumption).
NUDGE_LATENCY_S = 1.0
# CloudWatch's ECS CPUUtilization and MemoryUtilization are one-minute averages.
UTILIZATION_PERIOD_S = 60


class _Invocation:
    def __init__(self, started: float):
        self.started = started
        self.last_tick: float | None = None
        self.next_due = started
        self.follow_up = -math.inf


class Ballast:
    name = "ballast"
    label = "Ballast (the Workloads as given)"

    def __init__(self, scenario):
        self.scenario = scenario
        self.manifests = {m["metadata"]["name"]: m for m in scenario.workload_manifests}
        self.workloads = {name: workload_from(m) for name, m in self.manifests.items()}
        self.pools = scenario.pools
        self.epoch_s = round(scenario.start.timestamp())
        self.statuses: dict[str, dict] = {name: {} for name in self.workloads}
        self.pool_statuses: dict[str, dict] = {name: {} for name in self.pools}
        self.holder: _Invocation | None = None
        self.wake = -math.inf
        self.nudges: list[float] = []
        self.ticks = 0
        self.invocations = 0
        self.log: list[dict] = []  # every rescale and resize with the core's reason, for the JSON
        self._cpu_then: dict[int, tuple[float, float]] = {}
        self._utilization: dict[str, float] = {}

    def start(self, cluster) -> None:
        self.cluster = cluster
        resting = {name: (w.paused_replicas if w.paused_replicas is not None else w.min_replicas)
                   for name, w in self.workloads.items()}
        cluster.preload(cluster.nodes_for(resting), resting)

    # ---- the lease loop ---------------------------------------------------------------------------------------

    def on_arrival(self, workload: str, at: float) -> None:
        status = self.statuses[workload]
        if not status.get("desiredReplicas") and backlog.should_wake(self.workloads[workload],
                                                                    status.get("currentReplicas") or 0, 1):
            heapq.heappush(self.nudges, at + NUDGE_LATENCY_S)

    def tick(self, t: int) -> None:
        holder = self.holder
        if holder is not None and holder.last_tick is not None and t - holder.started >= LAMBDA_TIMEOUT_S - SAFETY_MARGIN_S:
            # Out of time: the loop releases the lease and, with work going on (its last tick was not idle, or it
            # would have ended then), hands off to the next invocation through the nudge queue.
            self.holder = holder = None
            heapq.heappush(self.nudges, t + NUDGE_LATENCY_S)
        if (self.epoch_s + t) % SCHEDULE_S == 0:
            self._invoke(float(t))
        while self.nudges and self.nudges[0] <= t:
            self._invoke(heapq.heappop(self.nudges))
        holder = self.holder
        if holder is None:
            return
        if holder.last_tick is not None and t < holder.next_due and not self.wake > holder.last_tick:
            return
        idle, activated = self._reconcile(t)
        if activated:
            holder.follow_up = t + FOLLOW_UP_S
        # A tick a wake brought in between does not cancel the follow-up (control/loop.py).
        follow_up = holder.follow_up if holder.follow_up > t else math.inf
        holder.last_tick, holder.next_due = float(t), min(t + TICK_INTERVAL_S, follow_up)
        if idle:
            self.holder = None

    def _invoke(self, at: float) -> None:
        self.invocations += 1
        if self.holder is None:
            self.holder = _Invocation(at)
        else:
            self.wake = max(self.wake, at)

    # ---- one tick: observe → decide → act → record -----------------------------------------------------------

    def _reconcile(self, t: int) -> tuple[bool, bool]:
        """One tick; (idle, whether a workload woke from zero), as reconcile.tick's summary says them."""
        self.ticks += 1
        cluster, now = self.cluster, self._clock(t)
        observations, completions = {}, {}
        for name, workload in self.workloads.items():
            status = self.statuses[name]
            completions[name] = tracking.completions_from(self._recent_stats(name, now), status, now)
            desired, running = cluster.desired[name], self._running(name)
            startup_s = tracking.task_startup_seconds(status.get("startup"), desired, running, now)
            observations[name] = Observation(
                replicas=desired, ready=running, running=running, pending=cluster.count(name, PENDING, STARTING),
                resources=self._resources(workload, t), queue=QueueDepth(len(cluster.queues[name].visible),
                                                                         cluster.queues[name].in_flight, 0),
                external={}, throughput=completions[name].samples, arrival_per_s=completions[name].arrival_per_s,
                startup_s=startup_s, last_arrival_at=completions[name].last_arrival_at)
        pool_observations = {}
        for name in self.pools:
            size, ready = cluster.pool_size(name), len(cluster.ready_nodes(name))
            boot_s = tracking.scale_up_seconds(self.pool_statuses[name].get("boot"), size, ready, now)
            pool_observations[name] = PoolObservation(size, ready, boot_s)
        decision = decide_tick(
            workloads=tuple(self.workloads.values()), pools=dict(self.pools), observations=observations,
            histories={n: History.from_dict(self.statuses[n].get("history")) for n in observations},
            node_states=pool_observations, now=now,
            pool_histories={n: PoolHistory.from_dict(self.pool_statuses[n].get("history")) for n in self.pools})
        idle = (all(tracking.is_idle(observations[n], d) for n, d in decision.workloads.items())
                and all(pool_observations[n].nodes == d.nodes == self.pools[n].min_nodes
                        for n, d in decision.pools.items()))
        for name, chosen in decision.workloads.items():
            observed = observations[name]
            acted = chosen.replicas != observed.replicas and not self.workloads[name].dry_run
            if acted:
                cluster.set_desired(name, chosen.replicas)
                self.log.append({"t": t, "workload": name, "from": observed.replicas, "to": chosen.replicas,
                                 "reason": chosen.reason, "message": chosen.message})
            waits = tracking.waits_for_nodes(self.workloads[name], decision.pools, pool_observations)
            self.statuses[name] = _stored(self._status(self.statuses[name], observed, completions[name], chosen,
                                                       acted, waits, now))
        for name, chosen in decision.pools.items():
            spec, observed = self.pools[name], pool_observations[name]
            requested = max(spec.min_nodes, min(chosen.nodes, spec.max_nodes))
            resized = requested != observed.nodes and not spec.dry_run
            if resized:
                cluster.set_pool_size(name, requested)
                self.log.append({"t": t, "pool": name, "from": observed.nodes, "to": requested,
                                 "reason": chosen.reason, "message": chosen.message})
            status = self.pool_statuses[name]
            self.pool_statuses[name] = _stored({
                "currentNodes": observed.nodes, "readyNodes": observed.ready_nodes, "desiredNodes": chosen.nodes,
                "requestedNodes": requested, "tasks": chosen.tasks, "reason": chosen.reason,
                "history": chosen.history.to_dict(),
                "boot": tracking.scale_up_timing(status.get("boot"), observed.boot_s is not None, observed.nodes,
                                                 requested, resized, now),
                "bootSeconds": observed.boot_s if observed.boot_s is not None else status.get("bootSeconds")})
        activated = any(observations[n].replicas == 0 < d.replicas for n, d in decision.workloads.items())
        return idle, activated

    def _status(self, status: dict, observed: Observation, completions, decision, acted: bool, waits_for_nodes: bool,
                now: datetime) -> dict:
        history = decision.history
        return {
            "currentReplicas": observed.replicas,
            "desiredReplicas": decision.replicas,
            "readyReplicas": observed.ready_replicas,
            "pendingReplicas": observed.pending,
            "lastScaleTime": history.last_scale_at.isoformat() if history.last_scale_at else None,
            "reason": decision.reason,
            "metric": decision.metric,
            "history": history.to_dict(),
            "statsSeen": completions.seen,
            "arrivalPerSecond": completions.arrival_per_s,
            "startup": tracking.scale_up_timing(status.get("startup"), tracking.scale_up_seconds(
                status.get("startup"), observed.replicas, observed.running, now) is not None, observed.replicas,
                decision.replicas, acted, now, waits_for_nodes),
            "startupSeconds": observed.startup_s if observed.startup_s is not None else status.get("startupSeconds"),
        }

    # ---- readings ---------------------------------------------------------------------------------------------

    def _running(self, name: str) -> int:
        """ECS's runningCount keeps a task until it has stopped; a Deployment's readyReplicas drops a terminating pod."""
        if self.scenario.platform.kind == "eks":
            return self.cluster.count(name, RUNNING)
        return self.cluster.count(name, RUNNING, STOPPING)

    def _clock(self, t: float) -> datetime:
        return datetime.fromtimestamp(self.epoch_s + t, tz=timezone.utc)

    def _recent_stats(self, name: str, now: datetime) -> list[dict]:
        """The store's recent_stats: the items of this minute and the one before that have any counter."""
        this_minute = int(now.timestamp()) // 60
        stamp = self.cluster.record.last_arrival.get(name)
        stats, buckets = self.cluster.record.stats[name], []
        for minute in (this_minute - 1, this_minute):
            if minute not in stats:
                continue
            arrived, done, failed, busy_ms = stats[minute]
            item = {"minute": datetime.fromtimestamp(minute * 60, tz=timezone.utc).isoformat()}
            item.update({key: value for key, value in ((tracking.ARRIVED, arrived), (tracking.DONE, done),
                                                       (tracking.FAILED, failed), (tracking.BUSY_MS, busy_ms)) if value})
            if arrived and stamp is not None and (self.epoch_s + stamp) // 60 == minute:
                item[tracking.LAST_ARRIVAL] = self._clock(stamp).isoformat()
            buckets.append(item)
        return buckets

    def _resources(self, workload, t: int) -> dict:
        if not any(isinstance(m, ResourceMetric) for m in workload.metrics):
            return {"cpu": None, "memory": None}
        cpu = self._cpu_utilization(workload, t)
        work = self.scenario.work[workload.name]
        running = self.cluster.count(workload.name, RUNNING, STOPPING)
        memory = work.memory_used_mib / workload.resources.memory_mib * 100 if running else None
        return {"cpu": None if cpu is None else ResourceUsage(average_utilization=cpu),
                "memory": None if memory is None else ResourceUsage(average_utilization=memory)}

    def _cpu_utilization(self, workload, t: int) -> float | None:
        """The service's CPUUtilization: its running tasks' CPU over their reservation, a minute's average."""
        cluster, work = self.cluster, self.scenario.work[workload.name]
        shares, fresh = [], False
        for task in cluster.tasks[workload.name]:
            if task.state not in (RUNNING, STOPPING):
                continue
            then = self._cpu_then.setdefault(task.id, (float(t), cluster.busy_seconds(task, t)))
            if t - then[0] >= UTILIZATION_PERIOD_S:
                busy = cluster.busy_seconds(task, t)
                share = min(1.0, (busy - then[1]) / (t - then[0]))
                used = share * work.cpu_busy_millicores + (1 - share) * work.cpu_idle_millicores
                shares.append(used / workload.resources.cpu_millicores * 100)
                self._cpu_then[task.id] = (float(t), busy)
                fresh = True
        if fresh:
            self._utilization[workload.name] = sum(shares) / len(shares)
        return self._utilization.get(workload.name) if cluster.count(workload.name, RUNNING, STOPPING) else None


def _stored(status: dict) -> dict:
    """What the store gives back: JSON in, JSON out, no shared objects."""
    return json.loads(json.dumps(status))
