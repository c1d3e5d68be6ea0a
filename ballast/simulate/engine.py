"""The platform model of DESIGN.md "The simulator": queues, workers, tasks and nodes, advanced one second at a time.

A policy acts at each whole second on what it can observe; between seconds the work runs in continuous time: an item
that lands while a worker idles is taken at once (workers long-poll), a worker takes one item at a time for its
sampled service time, a task waits for a node with room (CPU, memory, pods), starts after its start latency, and a
node takes its boot time. The item stream and its service times come from the scenario's seed, so every policy plays
the very same work; start and boot latencies are drawn in request order from their own seeded streams.
"""
from __future__ import annotations

import heapq
import math
import random
from collections import deque

from ballast.simulate.fleet import RUNNING, STARTING, STOPPING, Fleet, Node, Task
from ballast.simulate.record import Record
from ballast.simulate.scenario import Scenario

# The completions Lambda gathers a second of completions before it writes them (chalicelib/config.py,
# COMPLETIONS_BATCHING_WINDOW_S): a completion reaches the per-minute stats that much after the worker finished.
COMPLETIONS_LAG_S = 1.0
_DONE, _STARTED, _READY = 0, 1, 2


class Queue:
    """One workload's SQS queue: visible items in arrival order and the number a worker holds (in flight)."""

    __slots__ = ("visible", "in_flight")

    def __init__(self):
        self.visible: deque[int] = deque()
        self.in_flight = 0

    @property
    def backlog(self) -> int:
        return len(self.visible) + self.in_flight


class Cluster(Fleet):
    """What a policy sees and drives: queues, fleets and node pools, with `set_desired` and `set_pool_size`."""

    def __init__(self, scenario: Scenario, keep_timeline: bool = True):
        super().__init__(scenario, random.Random(f"{scenario.seed}:task-start"),
                         random.Random(f"{scenario.seed}:node-boot"), random.Random(f"{scenario.seed}:termination"))
        items = scenario.items()
        self.arrival_t = [t for t, _ in items]
        self.item_workload = [name for _, name in items]
        service_rngs = {name: random.Random(f"{scenario.seed}:service:{name}") for name in self.by_name}
        self.service_s = [scenario.work[name].service_time.sample(service_rngs[name]) for name in self.item_workload]
        self.done_t = [math.nan] * len(items)
        self.queues = {name: Queue() for name in self.by_name}
        self.arrived = 0
        self.completed = 0
        self.done_by = {name: 0 for name in self.by_name}
        self.record = Record(scenario, self, keep_timeline)
        self._events: list = []
        self._seq = 0
        self._policy = None

    # ---- what policies read ---------------------------------------------------------------------------------

    def backlog(self, name: str) -> int:
        return self.queues[name].backlog

    def all_done(self) -> bool:
        """Every item that has arrived so far is done (nothing visible, nothing in flight)."""
        return self.completed == self.arrived

    # ---- the run --------------------------------------------------------------------------------------------

    def run(self, policy) -> Record:
        self._policy = policy
        policy.start(self)
        horizon = int(math.ceil(self.scenario.duration_s))
        arrival_t, count, next_item = self.arrival_t, len(self.arrival_t), 0
        events = self._events
        for t in range(horizon):
            self.now = float(t)
            policy.tick(t)
            if self.dirty:
                self.schedule(self.now)
            end = t + 1
            while True:
                arrival = arrival_t[next_item] if next_item < count else math.inf
                event = events[0][0] if events else math.inf
                if arrival >= end and event >= end:
                    break
                if arrival <= event:
                    self.now = arrival
                    self._arrive(next_item, arrival)
                    next_item += 1
                else:
                    at, _, kind, subject = heapq.heappop(events)
                    self.now = at
                    self._handle(kind, subject, at)
                if self.dirty:
                    self.schedule(self.now)
            self.record.sample(t)
        self.now = float(horizon)
        self.record.close(horizon)
        return self.record

    def _push(self, at: float, kind: int, subject) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, self._seq, kind, subject))

    def _arrive(self, index: int, at: float) -> None:
        name = self.item_workload[index]
        self.arrived += 1
        self.record.arrival(name, at)
        queue = self.queues[name]
        queue.visible.append(index)
        idle = self.idle[name]
        if idle:
            self._take(idle.pop(), at)
        if self._policy is not None:
            self._policy.on_arrival(name, at)

    def _take(self, task: Task, at: float) -> bool:
        """The worker receives the oldest visible item, if any; False when the queue is empty."""
        queue = self.queues[task.workload]
        if not queue.visible:
            return False
        index = queue.visible.popleft()
        queue.in_flight += 1
        task.item, task.busy_since = index, at
        self._push(at + self.service_s[index], _DONE, task)
        return True

    def _handle(self, kind: int, subject, at: float) -> None:
        if kind == _DONE:
            task: Task = subject
            index, name = task.item, task.workload
            self.queues[name].in_flight -= 1
            self.done_t[index] = at
            self.completed += 1
            self.done_by[name] += 1
            self.record.completion(name, at + COMPLETIONS_LAG_S, self.service_s[index])
            task.busy_total += at - task.busy_since
            task.item, task.busy_since = None, None
            if task.state == STOPPING:
                self.end_task(task, at)
            elif not self._take(task, at):
                self.idle[name].append(task)
        elif kind == _STARTED:
            task = subject
            if task.state != STARTING:  # stopped while it was starting
                return
            task.state, task.running_at = RUNNING, at
            if not self._take(task, at):
                self.idle[task.workload].append(task)
        elif kind == _READY:
            node: Node = subject
            if node.ended is None and not node.draining:
                node.ready = True
                self.dirty = True

    # ---- hooks the fleet calls ----------------------------------------------------------------------------

    def starting(self, task: Task, at: float) -> None:
        self._push(at + self.platform.task_start.sample(self.start_rng), _STARTED, task)

    def booting(self, node: Node, at: float) -> None:
        self._push(node.ready_at, _READY, node)

    def busy_seconds(self, task: Task, at: float) -> float:
        """The task's busy time up to `at`: what the CPU metrics of the baselines integrate."""
        return task.busy_total + (at - task.busy_since if task.busy_since is not None else 0.0)

