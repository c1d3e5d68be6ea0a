"""Small scenarios for the simulator's tests: one or two workloads, a few items, numbers that can be done by hand."""
from __future__ import annotations

import copy

from ballast.simulate.scenario import Scenario
from ballast.simulate.scenario_file import scenario_from


def workload(name="photos", max_replicas=4, min_replicas=0, pools=("workers",), metrics=None, cpu=500, memory=512,
             kind="Deployment", **spec) -> dict:
    target = ({"kind": "Deployment", "cluster": "c", "namespace": "photos", "name": name} if kind == "Deployment"
              else {"kind": "ECSService", "cluster": "c", "service": name})
    return {"metadata": {"name": name},
            "spec": {"target": target, "queue": {"name": name}, "resources": {"cpuMillicores": cpu, "memoryMiB": memory},
                     "minReplicas": min_replicas, "maxReplicas": max_replicas,
                     "metrics": metrics or [{"type": "Backlog", "backlog": {"targetPerReplica": 5}}],
                     "nodePools": list(pools), **spec}}


def pool(name="workers", max_nodes=4, min_nodes=0, cpu=2000, memory=8192, price=0.096, type_="m5.large") -> dict:
    return {"metadata": {"name": name},
            "spec": {"provider": {"kind": "EKSNodegroup", "cluster": "c", "nodegroup": name},
                     "instance": {"type": type_, "cpuMillicores": cpu, "memoryMiB": memory, "pricePerHour": price},
                     "minNodes": min_nodes, "maxNodes": max_nodes}}


def data(workloads=None, pools=None, arrivals=None, service=1.0, platform=None, duration="30m", **extra) -> dict:
    workloads = workloads or [workload()]
    names = [w["metadata"]["name"] for w in workloads]
    return {"name": "tiny", "seed": 7, "duration": duration,
            "platform": platform or {"kind": "eks", "taskStart": {"fixed": 5}, "nodeBoot": {"fixed": 60},
                                      "nodeJoin": {"fixed": 0}},
            "workloads": workloads, "nodePools": [pool()] if pools is None else pools,
            "work": {name: {"serviceTime": {"fixed": service}} for name in names},
            "arrivals": arrivals or [{"workload": names[0], "burst": {"count": 20, "at": "10s", "over": "10s"}}],
            **extra}


def scenario(**kwargs) -> Scenario:
    return scenario_from(copy.deepcopy(data(**kwargs)))


def fargate(**kwargs) -> Scenario:
    kwargs.setdefault("workloads", [workload(pools=(), kind="ECSService")])
    return scenario(platform={"kind": "fargate", "taskStart": {"fixed": 30}}, pools=[], **kwargs)
