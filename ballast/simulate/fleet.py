"""Tasks and nodes of the platform model: desired counts become tasks, tasks wait for room on nodes, nodes boot and drain.

The providers' own rules, each where it acts: which tasks a lower desired count stops (a ReplicaSet's deletion ranking
on EKS, ECS's task scale-in protection elsewhere), which node a smaller Auto Scaling group terminates (its default
termination policy), and that a removed node is drained first (EKS managed node groups cordon and evict).
"""
from __future__ import annotations

import math
import random

from ballast.simulate.scenario import Scenario

PENDING, STARTING, RUNNING, STOPPING, GONE = "pending", "starting", "running", "stopping", "gone"


class Task:
    __slots__ = ("id", "workload", "cpu", "memory", "state", "node", "created", "placed", "running_at", "ended",
                 "item", "busy_since", "busy_total")

    def __init__(self, ident: int, workload: str, cpu: int, memory: int, created: float):
        self.id, self.workload, self.cpu, self.memory, self.created = ident, workload, cpu, memory, created
        self.state, self.node, self.placed, self.running_at, self.ended = PENDING, None, None, None, None
        self.item, self.busy_since, self.busy_total = None, None, 0.0

    @property
    def busy(self) -> bool:
        return self.item is not None


class Node:
    __slots__ = ("id", "pool", "requested", "ready_at", "ready", "draining", "ended", "free_cpu", "free_memory",
                 "free_pods", "cpu", "memory", "tasks")

    def __init__(self, ident: int, pool: str, cpu: int, memory: int, pods: int | None, requested: float,
                 ready_at: float):
        self.id, self.pool, self.requested, self.ready_at = ident, pool, requested, ready_at
        self.cpu, self.memory = cpu, memory
        self.free_cpu, self.free_memory, self.free_pods = cpu, memory, pods
        self.ready, self.draining, self.ended = False, False, None
        self.tasks: list[Task] = []

    def fits(self, task: Task) -> bool:
        return (self.free_cpu >= task.cpu and self.free_memory >= task.memory
                and (self.free_pods is None or self.free_pods >= 1))

    def free_share(self) -> float:
        """kube-scheduler's LeastAllocated score, unweighted: the mean free fraction of CPU and memory."""
        return (self.free_cpu / self.cpu + self.free_memory / self.memory) / 2


class Fleet:
    """Desired counts per workload and sizes per pool, kept by creating, placing, stopping and draining."""

    def __init__(self, scenario: Scenario, start_rng: random.Random, boot_rng: random.Random,
                 termination_rng: random.Random):
        self.scenario, self.platform = scenario, scenario.platform
        self.by_name = {w.name: w for w in scenario.workloads}
        self.pools = scenario.pools
        self.desired = {name: 0 for name in self.by_name}
        self.tasks: dict[str, list[Task]] = {name: [] for name in self.by_name}
        self.idle: dict[str, list[Task]] = {name: [] for name in self.by_name}
        self.nodes: dict[str, list[Node]] = {name: [] for name in self.pools}
        self.pending: list[Task] = []
        self.start_rng, self.boot_rng, self.termination_rng = start_rng, boot_rng, termination_rng
        self.now = 0.0
        self.dirty = False
        self._ids = 0

    # ---- reads ----------------------------------------------------------------------------------------------

    def count(self, name: str, *states: str) -> int:
        return sum(1 for task in self.tasks[name] if task.state in states)

    def pool_size(self, pool: str) -> int:
        """The group's desired capacity: nodes booting or in service, not those being drained away."""
        return sum(1 for node in self.nodes[pool] if not node.draining)

    def ready_nodes(self, pool: str) -> list[Node]:
        return [node for node in self.nodes[pool] if node.ready and not node.draining]

    # ---- workloads ------------------------------------------------------------------------------------------

    def set_desired(self, name: str, replicas: int) -> None:
        replicas = max(0, int(replicas))
        if replicas != self.desired[name]:
            self.record.desired_change(name, self.desired[name], replicas, self.now, self.backlog(name))
            self.desired[name] = replicas
        self._reconcile(name)

    def _reconcile(self, name: str) -> None:
        live = [task for task in self.tasks[name] if task.state != STOPPING]
        missing = self.desired[name] - len(live)
        for _ in range(missing):
            self._create(name)
        if missing < 0:
            for task in sorted(live, key=self._stop_rank)[:-missing]:
                self.stop(task, self.now)

    def _stop_rank(self, task: Task) -> tuple:
        # Unscheduled first, then starting, then running; on EKS the ReplicaSet takes the pod ready for the shortest
        # time (controller.ActivePodsWithRanks), busy or not; ECS spares the tasks its workers protect while busy.
        state_rank = {PENDING: 0, STARTING: 1, RUNNING: 2}[task.state]
        protected = task.busy and self.platform.kind != "eks"
        since = task.running_at if task.running_at is not None else task.created
        return (state_rank, protected, -since, -task.id)

    def _create(self, name: str) -> Task:
        workload = self.by_name[name]
        self._ids += 1
        task = Task(self._ids, name, workload.resources.cpu_millicores, workload.resources.memory_mib, self.now)
        self.tasks[name].append(task)
        self.record.task_created(task)
        if self.platform.has_nodes:
            self.pending.append(task)
            self.dirty = True
        else:
            self._place(task, None, self.now)  # Fargate gives every task its own capacity
        return task

    def stop(self, task: Task, at: float) -> None:
        """A busy worker finishes the item in hand first (it drains on SIGTERM); anything else goes at once."""
        if task.state == RUNNING and task.busy:
            task.state = STOPPING
            return
        if task.state == PENDING:
            self.pending.remove(task)
        elif task.state == RUNNING:
            self.idle[task.workload].remove(task)
        self.end_task(task, at)

    def end_task(self, task: Task, at: float) -> None:
        was_pending = task.state == PENDING
        task.state, task.ended = GONE, at
        self.tasks[task.workload].remove(task)
        self.record.task_ended(task, at, was_pending)
        node = task.node
        if node is not None:
            node.tasks.remove(task)
            node.free_cpu += task.cpu
            node.free_memory += task.memory
            if node.free_pods is not None:
                node.free_pods += 1
            self.dirty = True
            if node.draining and not node.tasks:
                self._end_node(node, at)

    def schedule(self, at: float) -> None:
        """Places waiting tasks, oldest first, on ready nodes of their pools with room (the scheduler's job)."""
        self.dirty = False
        if not self.pending:
            return
        waiting = []
        for task in self.pending:
            node = self._fit(task)
            if node is None:
                waiting.append(task)
            else:
                self._place(task, node, at)
        self.pending = waiting

    def _fit(self, task: Task) -> Node | None:
        best, best_score = None, None
        for pool in self.by_name[task.workload].node_pools:
            for node in self.nodes.get(pool, ()):
                if node.ready and not node.draining and node.fits(task):
                    score = node.free_share() if self.platform.placement == "spread" else -node.free_share()
                    if best is None or score > best_score:
                        best, best_score = node, score
        return best

    def _place(self, task: Task, node: Node | None, at: float) -> None:
        task.state, task.node, task.placed = STARTING, node, at
        if node is not None:
            node.tasks.append(task)
            node.free_cpu -= task.cpu
            node.free_memory -= task.memory
            if node.free_pods is not None:
                node.free_pods -= 1
        self.record.task_placed(task, at)
        self.starting(task, at)

    # ---- node pools -----------------------------------------------------------------------------------------

    def set_pool_size(self, pool: str, nodes: int) -> None:
        """SetDesiredCapacity: clamped to the group's bounds; a smaller group terminates by its termination policy."""
        spec = self.pools[pool]
        nodes = min(max(int(nodes), spec.min_nodes), spec.max_nodes)
        current = [node for node in self.nodes[pool] if not node.draining]
        for _ in range(nodes - len(current)):
            self.launch(pool, self.now)
        if nodes < len(current):
            for node in self._termination_order(current)[:len(current) - nodes]:
                self.drain(node, self.now)

    def _termination_order(self, nodes: list[Node]) -> list[Node]:
        # EC2 Auto Scaling's default termination policy, one zone and one launch template: the instances closest to
        # the next billing hour first, ties at random (docs: "Configure termination policies", default policy).
        return sorted(nodes, key=lambda n: (-((self.now - n.requested) % 3600), self.termination_rng.random()))

    def remove_node(self, node: Node) -> None:
        """TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity: cluster-autoscaler's way."""
        if not node.draining and node.ended is None:
            self.drain(node, self.now)

    def launch(self, pool: str, at: float) -> Node:
        spec = self.pools[pool]
        shape = spec.instance
        self._ids += 1
        ready_in = self.platform.node_boot.sample(self.boot_rng) + self.platform.node_join.sample(self.boot_rng)
        node = Node(self._ids, pool, shape.allocatable_cpu_millicores, shape.allocatable_memory_mib,
                    self.platform.max_pods(shape.type), at, at + ready_in)
        self.nodes[pool].append(node)
        self.record.node_launched(node, at)
        self.booting(node, at)
        return node

    def drain(self, node: Node, at: float) -> None:
        """Cordon and evict: each pod's controller makes a replacement, which waits for room like any new task."""
        node.draining = True
        evicted = {task.workload for task in node.tasks}
        for task in list(node.tasks):
            if task.state != STOPPING:
                self.stop(task, at)
        # A busy worker finishing its item no longer counts as a replica: its replacement is made now.
        for name in sorted(evicted):
            self._reconcile(name)
        if not node.tasks:
            self._end_node(node, at)

    def _end_node(self, node: Node, at: float) -> None:
        if node.ended is not None:
            return
        node.ended = at
        self.nodes[node.pool].remove(node)
        self.record.node_ended(node, at)
        self.dirty = True

    def nodes_for(self, replicas: dict[str, int]) -> dict[str, int]:
        """Nodes per pool that hold `replicas` (first fit, in the workloads' pool order), at least each pool's minimum."""
        rooms: dict[str, list[list]] = {pool: [] for pool in self.pools}
        for name, wanted in replicas.items():
            workload = self.by_name[name]
            cpu, memory = workload.resources.cpu_millicores, workload.resources.memory_mib
            for _ in range(wanted):
                for pool in workload.node_pools:
                    shape = self.pools[pool].instance
                    room = next((r for r in rooms[pool] if r[0] >= cpu and r[1] >= memory and r[2] != 0), None)
                    if room is None and len(rooms[pool]) < self.pools[pool].max_nodes:
                        room = [shape.allocatable_cpu_millicores, shape.allocatable_memory_mib,
                                self.platform.max_pods(shape.type)]
                        if not (room[0] >= cpu and room[1] >= memory and room[2] != 0):
                            continue
                        rooms[pool].append(room)
                    if room is not None:
                        room[0], room[1] = room[0] - cpu, room[1] - memory
                        room[2] = None if room[2] is None else room[2] - 1
                        break
        return {pool: max(spec.min_nodes, len(rooms[pool])) for pool, spec in self.pools.items()}

    def preload(self, pool_sizes: dict[str, int], desired: dict[str, int]) -> None:
        """The state a policy rests in before the scenario starts: nodes up and tasks running at time zero."""
        for pool, count in pool_sizes.items():
            for _ in range(count):
                self._ids += 1
                shape = self.pools[pool].instance
                node = Node(self._ids, pool, shape.allocatable_cpu_millicores, shape.allocatable_memory_mib,
                            self.platform.max_pods(shape.type), 0.0, 0.0)
                node.ready = True
                self.nodes[pool].append(node)
                self.record.node_launched(node, 0.0, preloaded=True)
        for name, count in desired.items():
            self.desired[name] = count
            self._reconcile(name)
        self.schedule(0.0)
        for name in desired:
            for task in self.tasks[name]:
                if task.state == STARTING:
                    # Running long before the run began: no start-up to wait for, no CPU initialisation period.
                    task.state, task.running_at, task.created = RUNNING, 0.0, -math.inf
                    self.idle[name].append(task)

    # ---- hooks for the loop ---------------------------------------------------------------------------------

    def starting(self, task: Task, at: float) -> None:
        raise NotImplementedError

    def booting(self, node: Node, at: float) -> None:
        raise NotImplementedError

    def backlog(self, name: str) -> int:
        raise NotImplementedError
