"""The node agent: plays EC2 and ECS for the local runtime, running each service's tasks as worker processes on simulated nodes."""
from __future__ import annotations

import functools
import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import requests

from local import task_protection
from local.moto_process import REPORT_PATH
from local.task_protection import ProtectionEndpoint
from local.tasks import PENDING, RUNNING, STOPPING, Node, ServiceView, Snapshot, Task, TaskDefinition, scale_in

log = logging.getLogger("local.agent")

LOOP_S = 0.5
HOST_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")


class Agent:
    """Follows ECS services' desiredCount and the Auto Scaling group's DesiredCapacity, as the ECS scheduler and EC2 would.

    In AWS the ECS scheduler owns a service's runningCount and pendingCount; moto has no scheduler and reports
    runningCount = desiredCount. The agent is the scheduler here, so it posts the true counts to the moto process, which
    writes them into its ECS records (there is no API for that, in AWS or moto), and the controller observes what really runs.
    """

    def __init__(self, session, cluster: str, auto_scaling_group: str, node_cpu_millicores: int, node_memory_mib: int,
                 worker_env: dict[str, str], log_dir: Path, account: str, region: str, boot_s: float = 3.0,
                 cwd: Path | None = None):
        self._ecs, self._asg = session.client("ecs"), session.client("autoscaling")
        self._cluster, self._group = cluster, auto_scaling_group
        self._node_shape = (node_cpu_millicores, node_memory_mib)
        self._worker_env, self._cwd = worker_env, cwd
        self._log_dir = log_dir
        self._account, self._region = account, region
        self._boot_s = boot_s
        self._nodes: list[Node] = []
        self._tasks: list[Task] = []
        self._definitions: dict[str, TaskDefinition] = {}
        self._desired: dict[str, int] = {}
        self._nodes_desired = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-agent", daemon=True)
        self._endpoint: ThreadingHTTPServer | None = None
        self.endpoint = ""  # the task-protection endpoint's base, http://127.0.0.1:PORT, once started
        self.errors: list[str] = []
        self.history: list[dict] = []  # every task that ran: pid, node, start and stop times, exit code

    def start(self) -> None:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        # moto has no UpdateTaskProtection and no ECS agent: this server is the agent's endpoint for every task.
        self._endpoint = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(ProtectionEndpoint, self.protection))
        self.endpoint = f"http://127.0.0.1:{self._endpoint.server_address[1]}"
        threading.Thread(target=self._endpoint.serve_forever, name="agent-endpoint", daemon=True).start()
        self._thread.start()

    def stop(self) -> None:
        """Stops the loop, then every task: SIGTERM, and SIGKILL for those still alive after their stop timeout."""
        self._stop.set()
        self._thread.join(10)
        with self._lock:
            for task in self._tasks:
                self._terminate(task, time.monotonic())
            deadline = max((t.stop_deadline for t in self._tasks), default=0)
        for task in list(self._tasks):
            if task.process is not None:
                try:
                    task.process.wait(max(0.0, deadline - time.monotonic()))
                    self._ended(task)
                except subprocess.TimeoutExpired:
                    self._kill(task)
        self._tasks.clear()
        if self._endpoint is not None:
            self._endpoint.shutdown()
            self._endpoint.server_close()

    def kill_all(self) -> None:
        """The last resort at interpreter exit: no process of the runtime may outlive it."""
        for task in list(self._tasks):
            self._kill(task)

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = time.monotonic()
            services = {}
            for service, desired in self._desired.items():
                mine = [t for t in self._tasks if t.service == service]
                services[service] = ServiceView(desired, sum(t.state == RUNNING for t in mine),
                                                sum(t.state == PENDING for t in mine), sum(t.state == STOPPING for t in mine))
            ready = sum(n.is_ready(now) for n in self._nodes)
            return Snapshot(services, ready, len(self._nodes) - ready, self._nodes_desired)

    # ---- the loop --------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync()
            except Exception as error:  # moto briefly unreachable, a throttle: the next turn retries
                log.exception("agent turn failed")
                self.errors.append(f"{type(error).__name__}: {error}")
                del self.errors[:-20]
            self._stop.wait(LOOP_S)

    def _sync(self) -> None:
        group = self._asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self._group])["AutoScalingGroups"][0]
        arns = self._ecs.list_services(cluster=self._cluster, maxResults=100)["serviceArns"]
        services = self._ecs.describe_services(cluster=self._cluster, services=arns)["services"] if arns else []
        for service in services:
            if service["taskDefinition"] not in self._definitions:
                self._definitions[service["taskDefinition"]] = self._describe(service["taskDefinition"])
        now = time.monotonic()
        with self._lock:
            self._nodes_desired = group["DesiredCapacity"]
            self._size_nodes(group["DesiredCapacity"], now)
            self._reap(now)
            for service in services:
                self._desired[service["serviceName"]] = service["desiredCount"]
                self._size_service(service["serviceName"], service["desiredCount"], self._definitions[service["taskDefinition"]], now)
            self._place(now)
            counts = self._counts()
        requests.post(self._worker_env["AWS_ENDPOINT_URL"] + REPORT_PATH, json=counts, timeout=5).raise_for_status()

    def _describe(self, arn: str) -> TaskDefinition:
        definition = self._ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        container = definition["containerDefinitions"][0]
        cpu = int(definition.get("cpu") or container.get("cpu") or 1024) * 1000 // 1024
        memory = int(definition.get("memory") or container.get("memory") or 512)
        return TaskDefinition(definition["family"], cpu, memory, list(container.get("command", [])),
                              {e["name"]: e["value"] for e in container.get("environment", [])},
                              float(container.get("stopTimeout", 30)))

    def _size_nodes(self, desired: int, now: float) -> None:
        while len(self._nodes) < desired:
            self._nodes.append(Node(f"node-{next(self._ids)}", *self._node_shape, ready_at=now + self._boot_s))
        # The group removes its newest instances first when nothing says otherwise; tasks on them are stopped with it.
        while len(self._nodes) > desired:
            node = min(self._nodes, key=lambda n: (len(self._on(n)), -n.ready_at))
            for task in self._on(node):
                self._terminate(task, now)
                task.node = None  # its process still exits gracefully; its capacity leaves with the node
            self._nodes.remove(node)

    def _size_service(self, service: str, desired: int, definition: TaskDefinition, now: float) -> None:
        live = [t for t in self._tasks if t.service == service and t.state != STOPPING]
        for _ in range(desired - len(live)):
            self._tasks.append(Task(f"{service}-{next(self._ids)}", service, definition))
        for task in scale_in(live, desired, now):
            self._terminate(task, now)

    def _place(self, now: float) -> None:
        for task in [t for t in self._tasks if t.state == PENDING]:
            node = next((n for n in self._nodes if n.is_ready(now) and self._fits(n, task.definition)), None)
            if node is not None:
                self._launch(task, node)

    def _fits(self, node: Node, definition: TaskDefinition) -> bool:
        held = self._on(node)
        return (sum(t.definition.cpu_millicores for t in held) + definition.cpu_millicores <= node.cpu_millicores
                and sum(t.definition.memory_mib for t in held) + definition.memory_mib <= node.memory_mib)

    def _on(self, node: Node) -> list[Task]:
        # A stopping task keeps its resources until its process exits, as on a real container instance.
        return [t for t in self._tasks if t.node is node and t.state in (RUNNING, STOPPING)]

    def _launch(self, task: Task, node: Node) -> None:
        command = list(task.definition.command)
        if command and command[0] == "python":
            command[0] = sys.executable  # the container's interpreter is this runtime's
        # A container sees its task definition's environment and the task role's credentials, not the host's.
        host = {k: os.environ[k] for k in HOST_ENV if k in os.environ}
        # ECS sets ECS_AGENT_URI in every container, over whatever the task definition says.
        env = {**host, **self._worker_env, **task.definition.environment,
               "ECS_AGENT_URI": f"{self.endpoint}/api/{task.id}"}
        output = open(self._log_dir / f"{task.service}.log", "ab")
        try:
            # A session of its own: Ctrl-C reaches the runtime, which then drains the workers in order.
            task.process = subprocess.Popen(command, env=env, cwd=self._cwd, stdin=subprocess.DEVNULL, stdout=output,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            output.close()
        task.state, task.node = RUNNING, node
        task.record = {"task": task.id, "service": task.service, "node": node.id, "pid": task.process.pid,
                       "started": time.time(), "stopped": None, "exitCode": None}
        self.history.append(task.record)
        log.info("task started", extra={"task": task.id, "node": node.id, "pid": task.process.pid})

    def _terminate(self, task: Task, now: float) -> None:
        if task.state == STOPPING:
            return
        if task.process is None:
            self._tasks.remove(task)
            return
        task.state, task.stop_deadline = STOPPING, now + task.definition.stop_timeout_s
        try:
            os.killpg(task.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass  # it already exited; _reap collects it

    def _kill(self, task: Task) -> None:
        if task.process is not None and task.process.poll() is None:
            try:
                os.killpg(task.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # exited between poll() and killpg()
            task.process.wait()
        self._ended(task)

    def _ended(self, task: Task) -> None:
        if task.record is not None and task.record["stopped"] is None:
            task.record.update(stopped=time.time(), exitCode=task.process.returncode)

    def _reap(self, now: float) -> None:
        for task in list(self._tasks):
            if task.process is None:
                continue
            code = task.process.poll()
            if code is None:
                if task.state == STOPPING and now >= task.stop_deadline:
                    log.warning("task killed after its stop timeout", extra={"task": task.id})
                    self._kill(task)
                    self._tasks.remove(task)
                continue
            self._ended(task)
            if task.state == RUNNING:
                # An essential container exited on its own; the service scheduler starts a replacement next turn.
                log.warning("task exited", extra={"task": task.id, "code": code})
            self._tasks.remove(task)

    # ---- the task-protection endpoint ------------------------------------------------------------

    def protection(self, task_id: str, request: dict | None) -> tuple[int, dict]:
        """The task-protection endpoint's answer for one of this agent's tasks (task_protection.answer)."""
        with self._lock:
            task = next((t for t in self._tasks if t.id == task_id and t.process is not None), None)
            arn = f"arn:aws:ecs:{self._region}:{self._account}:task/{self._cluster}/{task_id}"
            return task_protection.answer(task, arn, request)

    def _counts(self) -> dict:
        """What ECS's agents would tell it: each service's running and pending tasks (moto_process.REPORT_PATH)."""
        services = {}
        for service, desired in self._desired.items():
            mine = [t for t in self._tasks if t.service == service]
            services[service] = {"running": sum(t.state == RUNNING for t in mine),
                                 "pending": sum(t.state == PENDING for t in mine), "desired": desired}
        return {"account": self._account, "region": self._region, "cluster": self._cluster, "services": services}
