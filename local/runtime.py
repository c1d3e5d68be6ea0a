"""The local runtime of DESIGN.md: the stack in moto, the API server, the event pump and the node agent, started and stopped as one."""
from __future__ import annotations

import atexit
import functools
import logging
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import boto3

import infra
from local.agent import Agent
from ballast.api_client import Api, ApiError
from local.moto_server import ACCOUNT_ID, REGION, MotoServer
from local.pump import Pump

from chalice.local import ChaliceRequestHandler

log = logging.getLogger("local.runtime")

# moto only launches instances from AMIs it knows; this one is in moto/ec2/resources/amis.json.
MOTO_AMI = "ami-12c6146b"


class QuietHandler(ChaliceRequestHandler):
    """`chalice local` prints an access-log line per request on stderr, over the live view; keep them in the log."""

    def log_message(self, format: str, *args) -> None:
        log.debug("api request " + format, *args)


@dataclass(frozen=True)
class Shape:
    """The local cluster: nodes stand for the machine's cores; each worker task asks for half a node."""
    nodes: int = max(2, os.cpu_count() or 2)
    node_cpu_millicores: int = 1000
    node_memory_mib: int = 2048
    task_cpu_millicores: int = 500
    task_memory_mib: int = 512
    max_replicas: int = 4
    backlog_per_replica: int = 5
    cooldown_s: int = 20
    scale_down_window_s: int = 15
    node_unneeded_s: int = 20
    node_boot_s: float = 3.0
    stop_timeout_s: int = 10


def workload_manifest(op: str, cluster: str, service: str, queue: str, shape: Shape) -> dict:
    return {
        "apiVersion": "ballast.io/v1",
        "kind": "Workload",
        "metadata": {"name": f"photos-{op}", "labels": {"app": "photos", "op": op}},
        "spec": {
            "target": {"kind": "ECSService", "cluster": cluster, "service": service, "launchType": "EC2"},
            "queue": {"name": queue},
            "resources": {"cpuMillicores": shape.task_cpu_millicores, "memoryMiB": shape.task_memory_mib},
            "minReplicas": 0,
            "maxReplicas": shape.max_replicas,
            "metrics": [{"type": "Backlog", "backlog": {"targetPerReplica": shape.backlog_per_replica}}],
            # HPA's five-minute scale-down window would keep a finished demo's workers for minutes.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": shape.scale_down_window_s}},
            "cooldownSeconds": shape.cooldown_s,
            "nodePools": ["local"],
        },
    }


def nodepool_manifest(group: str, shape: Shape) -> dict:
    return {
        "apiVersion": "ballast.io/v1",
        "kind": "NodePool",
        "metadata": {"name": "local", "labels": {"app": "photos"}},
        "spec": {
            "provider": {"kind": "AutoScalingGroup", "autoScalingGroupName": group},
            "instance": {"type": "local", "cpuMillicores": shape.node_cpu_millicores, "memoryMiB": shape.node_memory_mib},
            "minNodes": 0,
            "maxNodes": shape.nodes,
            "scaleDownUnneededSeconds": shape.node_unneeded_s,
        },
    }


class Runtime:
    """Everything `make demo` runs: this process (the Lambdas, the pump, the agent), moto's, and one per running task."""

    def __init__(self, out_dir: Path, shape: Shape = Shape(), stage: str = "dev", register: bool = True):
        self.out_dir, self.shape, self.stage = Path(out_dir), shape, stage
        self._register = register
        self.moto = MotoServer(stage, object_dir=self.out_dir / "moto-objects")
        self.pump: Pump | None = None
        self.agent: Agent | None = None
        self.api: Api | None = None
        self.api_url = ""
        self.queue_urls: dict[str, str] = {}
        self._api_server = None
        self._stopped = threading.Event()
        self._log_file = None

    def start(self) -> "Runtime":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        self.moto.start()
        env = self.moto.environment()
        # chalicelib reads its names at import, so the app is imported only once the stage's variables are set.
        from chalicelib import config, wiring

        wiring.reset()
        session = boto3.Session()
        self.outputs = infra.create_stacks(session.client("cloudformation"), env, **self._worker_parameters(session))
        sqs = session.client("sqs")
        for queue in [config.work_queue(op) for op in config.OPERATIONS] + [config.COMPLETIONS_QUEUE]:
            self.queue_urls[queue] = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        self.services = {op: self.outputs[f"{op.capitalize()}ServiceName"] for op in config.OPERATIONS}
        self.auto_scaling_group = self.outputs["NodeGroupName"]

        from chalice.cli.factory import CLIFactory

        # app.py is the project's top-level module, not an installed one: `ballast up` may run from any directory.
        if str(infra.ROOT) not in sys.path:
            sys.path.insert(0, str(infra.ROOT))
        from app import app

        self._log_to(self.out_dir / "lambda.log")
        chalice_config = CLIFactory(str(infra.ROOT)).create_config_obj(chalice_stage_name=self.stage)
        self._serve_api(app, chalice_config)
        self.pump = Pump(app, chalice_config, session, self.stage, ACCOUNT_ID, REGION,
                         s3_events_queue=f"{config.QUEUE_PREFIX}local-s3-events")
        self.pump.wire()
        worker_env = {k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                          "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION")}
        self.agent = Agent(session, config.CLUSTER, self.auto_scaling_group, self.shape.node_cpu_millicores,
                           self.shape.node_memory_mib, worker_env, self.out_dir / "workers", ACCOUNT_ID, REGION,
                           boot_s=self.shape.node_boot_s, cwd=infra.ROOT)
        atexit.register(self.agent.kill_all)
        if self._register:
            self.register(config)
        self.agent.start()
        self.pump.start()
        return self

    def _log_to(self, path: Path) -> None:
        """The handlers' Powertools lines go where CloudWatch Logs would keep them, whoever owns this process's stdout
        (a live view, a test's capture): `ballast logs` reads them there. EMF metric documents are printed, so they
        follow sys.stdout, which `ballast up` and the demo point at the same file."""
        from chalicelib.telemetry import logger

        self._log_file = open(path, "a", buffering=1)
        self._log_stream = logger.registered_handler.setStream(self._log_file)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.pump is not None:
            self.pump.stop()
        if self.agent is not None:
            self.agent.stop()
        if self._api_server is not None:
            self._api_server.shutdown()
            self._app.__class__ = self._app_class
        if self._log_file is not None:
            from chalicelib.telemetry import logger

            logger.registered_handler.setStream(self._log_stream)  # as it was: the next runtime in this process has its own
            self._log_file.close()
        self.moto.stop()

    def register(self, config) -> None:
        """The photo pipeline's objects, created through the API server as a user would create them."""
        manifests = [nodepool_manifest(self.auto_scaling_group, self.shape)]
        manifests += [workload_manifest(op, config.CLUSTER, self.services[op], config.work_queue(op), self.shape)
                      for op in config.OPERATIONS]
        for manifest in manifests:
            path = "/nodepools" if manifest["kind"] == "NodePool" else "/workloads"
            try:
                self.api.post(path, manifest)
            except ApiError as error:
                raise RuntimeError(f"registering {manifest['kind']} {manifest['metadata']['name']}: {error}") from None

    def _worker_parameters(self, session) -> dict[str, str]:
        """The workers' template on EC2 nodes the agent plays, sized to the local shape."""
        # moto resolves the template's AMI parameter from its SSM and launches only AMIs it knows.
        ami = f"/ballast/{self.stage}/local/node-ami"
        session.client("ssm").put_parameter(Name=ami, Value=MOTO_AMI, Type="String", Overwrite=True)
        return {"LaunchType": "EC2", "NodeImageId": ami, "NodeInstanceType": "t3.small", "NodesMax": str(self.shape.nodes),
                "WorkerCpu": str(self.shape.task_cpu_millicores * 1024 // 1000), "WorkerMemory": str(self.shape.task_memory_mib),
                "StopTimeoutSeconds": str(self.shape.stop_timeout_s)}

    def _serve_api(self, app, chalice_config) -> None:
        """`chalice local` in a thread on a free port: the API server the CLI and the registration talk to."""
        from chalice.local import create_local_server

        # API Gateway checks the signature in AWS; `chalice local` cannot, says so once per route, and lets the call in.
        warnings.filterwarnings("ignore", message="IAMAuthorizer is not a supported in local mode")
        # create_local_server rebases the app's class onto its local subclass while it serves; stop() gives the class
        # back, or the next local server in this process (another runtime, a test's) would find an inheritance cycle.
        self._app, self._app_class = app, app.__class__
        server = create_local_server(app, chalice_config, "127.0.0.1", 0)
        server.server.RequestHandlerClass = functools.partial(QuietHandler, app_object=app, config=chalice_config)
        self._api_server = server
        self.api_url = f"http://127.0.0.1:{server.server.server_address[1]}"
        threading.Thread(target=server.server.serve_forever, name="api-server", daemon=True).start()
        self.api = Api(self.api_url, REGION)

    def __enter__(self) -> "Runtime":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
