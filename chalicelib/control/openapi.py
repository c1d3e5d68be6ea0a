"""The API server's OpenAPI 3.1 document, generated from Chalice's route table and the schemas validation uses."""
from __future__ import annotations

from chalicelib import schema

# The first path segment names what a route serves; the schemas are the ones parse_spec validates with.
RESOURCES = {"workloads": "Workload", "nodepools": "NodePool"}
WRITES = ("POST", "PUT", "PATCH", "DELETE")
SUCCESS = {"POST": "201"}

EXAMPLES = {
    "Workload": {
        "apiVersion": schema.API_VERSION,
        "kind": "Workload",
        "metadata": {"name": "photos-thumbnail", "labels": {"app": "photos", "op": "thumbnail"}},
        "spec": {
            "target": {"kind": "ECSService", "cluster": "ballast-dev", "service": "thumbnail"},
            "queue": {"name": "ballast-dev-thumbnail"},
            "resources": {"cpuMillicores": 1024, "memoryMiB": 2048},
            "minReplicas": 0,
            "maxReplicas": 20,
            "metrics": [{"type": "Backlog", "backlog": {"targetPerReplica": 10}}],
            "nodePools": ["general"],
        },
    },
    "NodePool": {
        "apiVersion": schema.API_VERSION,
        "kind": "NodePool",
        "metadata": {"name": "general"},
        "spec": {
            "provider": {"kind": "AutoScalingGroup", "autoScalingGroupName": "ballast-dev-general"},
            "instance": {"type": "c6g.xlarge", "cpuMillicores": 4000, "memoryMiB": 8192, "pricePerHour": 0.136},
            "minNodes": 0,
            "maxNodes": 6,
        },
    },
    "Scale": {"spec": {"replicas": 3}},
}
# Every setting of a kind at once, beside the plain example: each field shown in use, as the tests validate them.
EVERY_FIELD = {
    "Workload": {
        "apiVersion": schema.API_VERSION,
        "kind": "Workload",
        "metadata": {"name": "checkout", "namespace": "team-a", "labels": {"app": "shop"},
                     "annotations": {"owner": "team-a@example.com"}},
        "spec": {
            "target": {"kind": "ECSService", "cluster": "ballast-prod", "service": "checkout", "launchType": "EC2"},
            "queue": {"name": "ballast-prod-checkout", "scaleOnInFlight": True, "scaleOnDelayed": True},
            "resources": {"cpuMillicores": 0, "memoryMiB": 1024},
            "minReplicas": 2,
            "maxReplicas": 40,
            "idleReplicas": 0,
            "activation": "Paced",
            "pausedScaleIn": False,
            "pausedScaleOut": False,
            "cpuInitializationPeriodSeconds": 120,
            "initialReadinessDelaySeconds": 15,
            "metrics": [
                {"type": "Backlog", "backlog": {"targetPerReplica": 20, "activationThreshold": 3}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization",
                                                                                "averageUtilization": 75}}},
                {"type": "ContainerResource", "containerResource": {
                    "name": "cpu", "container": "app", "target": {"type": "Utilization", "averageUtilization": 60}}},
                {"type": "Pods", "pods": {"metric": {"name": "RequestsPerTask"},
                                          "target": {"type": "AverageValue", "averageValue": 100}}},
                {"type": "Object", "object": {
                    "describedObject": {"kind": "TargetGroup", "name": "targetgroup/checkout/0123456789abcdef"},
                    "metric": {"namespace": "AWS/ApplicationELB", "name": "RequestCountPerTarget", "statistic": "Sum"},
                    "target": {"type": "Value", "value": 1000}}},
            ],
            "behavior": {"scaleUp": {"tolerance": 0.05}, "scaleDown": {"tolerance": 0.2,
                                                                        "stabilizationWindowSeconds": 600}},
            "nodePools": ["general"],
        },
    },
    "NodePool": {
        "apiVersion": schema.API_VERSION,
        "kind": "NodePool",
        "metadata": {"name": "general", "namespace": "team-a"},
        "spec": {
            "provider": {"kind": "AutoScalingGroup", "autoScalingGroupName": "ballast-prod-general"},
            "instance": {"type": "m5.large", "cpuMillicores": 2000, "memoryMiB": 8192, "reservedCpuMillicores": 90,
                         "reservedMemoryMiB": 600, "pricePerHour": 0.096, "maxTasks": 29},
            "minNodes": 0,
            "maxNodes": 10,
            "scaleDownUnneededSeconds": 300,
        },
    },
}

STATUS = {
    "type": "object",
    "required": ["kind", "status"],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"const": "Status"},
        "status": {"enum": ["Success", "Failure"]},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "code": {"type": "integer"},
        "details": {"type": "object", "properties": {"field": {"type": "string"}, "name": {"type": "string"}}},
    },
}
EVENT = {
    "type": "object",
    "required": ["type", "reason", "message", "involvedObject", "time"],
    "properties": {
        "type": {"enum": ["Normal", "Warning"]},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "involvedObject": {"type": "object", "properties": {"kind": {"type": "string"}, "name": {"type": "string"}}},
        "time": {"type": "string", "format": "date-time"},
        "data": {"type": "object"},
    },
}
WORKLOAD_STATS = {
    "type": "object",
    "required": ["kind", "items"],
    "properties": {
        "apiVersion": {"type": "string"}, "kind": {"const": "WorkloadStats"},
        "metadata": {"type": "object", "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}}},
        "since": {"type": "string", "format": "date-time"},
        "items": {"type": "array", "items": {"type": "object", "required": ["minute"], "properties": {
            "minute": {"type": "string", "format": "date-time"},
            "arrived": {"type": "number", "description": "work messages sent in the minute"},
            "done": {"type": "number"}, "failed": {"type": "number"},
            "busyMs": {"type": "number", "description": "summed processing time of the minute's finished jobs"},
            "queueMs": {"type": "number", "description": "summed enqueue-to-finish time of those jobs"},
            "lastArrivalAt": {"type": "string", "format": "date-time"}}}},
    },
}
def _steps(*fields: str) -> dict:
    return {"type": "array", "items": {"type": "object", "required": ["time", *fields], "properties": {
        "time": {"type": "string", "format": "date-time"}, **{f: {"type": ["integer", "null"]} for f in fields}}}}


WORKLOAD_SERIES = {
    "type": "object",
    "description": "Step series, oldest first: each sample holds until the next; the first is the one in force at `since`. "
                   "Samples are kept for the last hour, the per-minute stats for a day.",
    "required": ["kind", "since", "now", "replicas", "nodes", "stats", "scaleEvents"],
    "properties": {
        "apiVersion": {"type": "string"}, "kind": {"const": "WorkloadSeries"},
        "metadata": {"type": "object", "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}}},
        "since": {"type": "string", "format": "date-time"}, "now": {"type": "string", "format": "date-time"},
        "replicas": {**_steps("backlog", "desired", "current", "ready"),
                     "description": "the queue's backlog and the desired, current and ready replicas at each tick that changed one"},
        "nodes": {"type": "object", "description": "per node pool of spec.nodePools: desired, current and ready nodes, tasks planned",
                  "additionalProperties": _steps("desired", "current", "ready", "tasks")},
        "stats": WORKLOAD_STATS["properties"]["items"],
        "scaleEvents": {"type": "array", "items": {"$ref": "#/components/schemas/Event"},
                        "description": "the workload's SuccessfulRescale and its pools' node resizes, with data.from and data.to"},
    },
}
MERGE_PATCH = {"type": "object", "description": "A JSON merge patch (RFC 7386): null deletes a key, objects merge."}
DELETE_OPTIONS = {"type": "object", "properties": {"preconditions": {"type": "object", "properties": {"resourceVersion": {"type": "string"}}}}}


def _list_of(item: str) -> dict:
    return {"type": "object", "required": ["items"], "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"type": "object", "properties": {"continue": {"type": ["string", "null"]}}},
        "items": {"type": "array", "items": _ref(item)}}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def schemas() -> dict:
    kinds = {kind: {**schema.object_schema(kind), "examples": [EXAMPLES[kind], EVERY_FIELD[kind]]}
             for kind in RESOURCES.values()}
    return {**kinds, **{f"{kind}List": _list_of(kind) for kind in kinds}, "Scale": schema.SCALE, "Status": STATUS,
            "Event": EVENT, "EventList": _list_of("Event"), "WorkloadStats": WORKLOAD_STATS, "WorkloadSeries": WORKLOAD_SERIES, "MergePatch": MERGE_PATCH, "DeleteOptions": DELETE_OPTIONS}


def document(routes: dict, title: str = "Ballast", version: str = schema.API_VERSION) -> dict:
    """`routes` is Chalice's app.routes: {path: {method: RouteEntry}}; every route and method appears, nothing else."""
    security = {}
    paths: dict = {}
    for path, methods in sorted(routes.items()):
        for method, entry in sorted(methods.items()):
            # One view may serve several methods; operationIds must still be unique.
            operation_id = entry.view_name if _is_unique(routes, entry) else f"{method.lower()}_{entry.view_name}"
            paths.setdefault(path, {})[method.lower()] = _operation(path, method, entry, operation_id)
            if entry.authorizer is not None:
                security[entry.authorizer.name] = entry.authorizer.to_swagger()
    return {"openapi": "3.1.0", "info": {"title": title, "version": version}, "paths": paths,
            "components": {"schemas": schemas(), "securitySchemes": security}}


def _is_unique(routes: dict, entry) -> bool:
    return sum(e.view_name == entry.view_name for methods in routes.values() for e in methods.values()) == 1


def _operation(path: str, method: str, entry, operation_id: str) -> dict:
    serves = _serves(path)
    operation = {
        "operationId": operation_id,
        "summary": entry.view_name.replace("_", " "),
        "parameters": _parameters(path, method, entry),
        "responses": {SUCCESS.get(method, "200"): _json(_response_schema(path, method, serves))},
    }
    body = _request_schema(method, serves)
    if body is not None:
        operation["requestBody"] = {"required": method != "DELETE", "content": {
            content_type: {"schema": body, **({"example": EXAMPLES[serves]} if method in ("POST", "PUT") and serves in EXAMPLES else {})}
            for content_type in entry.content_types if content_type != "*/*"} or {"*/*": {"schema": body}}}
        operation["responses"].update({"413": _error("the body is larger than the limit"),
                                       "415": _error("the Content-Type is not one this route accepts")})
    if serves is not None:
        operation["responses"]["400"] = _error("invalid input; details.field names what to fix")
    if entry.view_args:
        operation["responses"]["404"] = _error("no such object")
    if method in WRITES:
        operation["responses"]["409"] = _error("the name exists, or resourceVersion moved since it was read")
    operation["responses"]["503"] = _error("the store is throttled or unavailable; retry")
    if entry.authorizer is not None:
        operation["security"] = [{entry.authorizer.name: []}]
    return operation


def _serves(path: str) -> str | None:
    parts = path.strip("/").split("/")
    if parts[-1] == "scale":
        return "Scale"
    if parts[-1] == "stats":
        return "WorkloadStats"
    if parts[-1] == "series":
        return "WorkloadSeries"
    if parts[0] == "events":
        return "EventList"
    return RESOURCES.get(parts[0])


def _request_schema(method: str, serves: str | None) -> dict | None:
    if method not in WRITES or (serves is None and method == "DELETE"):
        return None
    if serves is None:
        return {"type": "object"}
    return {"PATCH": MERGE_PATCH, "DELETE": _ref("DeleteOptions")}.get(method, _ref(serves))


def _response_schema(path: str, method: str, serves: str | None) -> dict:
    if serves is None:
        return {"type": "object"}
    if method == "DELETE":
        return _ref("Status")
    is_collection = path.strip("/") in RESOURCES
    return _ref(f"{serves}List" if is_collection and method == "GET" else serves)


def _parameters(path: str, method: str, entry) -> list[dict]:
    params = [{"name": arg, "in": "path", "required": True, "schema": schema.DNS1123_LABEL if arg == "name" else {"type": "string"}}
              for arg in entry.view_args]
    if _serves(path) is None:
        return params
    params.append({"name": "namespace", "in": "query", "schema": {**schema.DNS1123_LABEL, "default": "default"}})
    if method == "GET" and path.strip("/") in RESOURCES:
        params += [_query("labelSelector", "equality terms: app=photos,op=thumbnail"),
                   _query("limit", "page size, 1 to 500"), _query("continue", "the token from the previous page"),
                   _query("allNamespaces", "true: every namespace's objects at once (a table scan; no continue)")]
    if method == "DELETE":
        params.append(_query("resourceVersion", "delete only if the object is still at this version"))
    if method in ("POST", "PUT", "PATCH") and path.strip("/").split("/")[0] in RESOURCES and "/scale" not in path:
        params.append({"name": "dryRun", "in": "query", "description": "All: validate and default, answer, write nothing",
                       "schema": {"enum": ["All"]}})
    if path.endswith(("/stats", "/series")):
        params.append(_query("since", "a duration back from now (90s, 15m, 24h) or an ISO 8601 time; default 1h"))
    if path == "/events":
        params += [_query("involvedObject", "Workload/photos-thumbnail"), _query("kind", "Workload or NodePool"),
                   _query("name", "the involved object's name"), _query("type", "Normal or Warning"),
                   _query("limit", "at most this many, newest first")]
    return params


def _query(name: str, description: str) -> dict:
    return {"name": name, "in": "query", "description": description, "schema": {"type": "string"}}


def _json(body_schema: dict) -> dict:
    return {"description": "OK", "content": {"application/json": {"schema": body_schema}}}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref("Status")}}}
