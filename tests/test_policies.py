"""Each Lambda's IAM policy allows every AWS call its handler makes on moto, names only its stage's resources, and
has no wildcard action; the files Chalice deploys are the ones infra/policies.py makes."""
import json
from types import SimpleNamespace

import boto3
import pytest

import infra
from app import app
from chalicelib import config, wiring
from infra import policies
from tests import iam
from tests.adapters.kube_stub import Deployment, KubeStub
from tests.conftest import load_event
from tests.pipeline import BUCKET, drain, upload

JSON = {"Content-Type": "application/json"}
STAGES = ("dev", "prod")


def policy(function: str, stage: str = "dev") -> dict:
    return json.loads((policies.CHALICE / policies.file_name(stage, function)).read_text())


def sqs_event(queue: str, *bodies: dict) -> dict:
    return {"Records": [{"messageId": f"0000000{i}-0000-4000-8000-000000000000", "receiptHandle": f"handle-{i}",
                         "body": json.dumps(body), "attributes": {"ApproximateReceiveCount": "4"},
                         "messageAttributes": {}, "md5OfBody": "0" * 32, "eventSource": "aws:sqs",
                         "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}", "awsRegion": "us-east-1"}
                        for i, body in enumerate(bodies)]}


@pytest.fixture
def recorder(stack, monkeypatch):
    """Every client chalicelib/wiring.py creates reports its calls here; the tests' own set-up calls do not."""
    recorder = iam.Recorder()

    def client(*args, **kwargs):
        created = boto3.client(*args, **kwargs)
        recorder.watch(created)
        return created

    def resource(*args, **kwargs):
        created = boto3.resource(*args, **kwargs)
        recorder.watch(created.meta.client)
        return created

    monkeypatch.setattr(wiring, "boto3", SimpleNamespace(client=client, resource=resource))
    wiring.reset()
    yield recorder
    wiring.reset()


def assert_allowed(function: str, recorder: iam.Recorder, expected: set[str]) -> None:
    """Every recorded call is allowed, and the calls the scenario must make were made (else the check is hollow)."""
    document = policy(function)
    denied = [str(call) for call in recorder.calls if not iam.allows(document, call)]
    assert denied == [], f"{function} made calls its policy denies"
    assert expected <= recorder.actions(), f"{function} did not make {sorted(expected - recorder.actions())}"


# ---- the calls each handler makes ----------------------------------------------------------------------------------


def test_the_api_handler_is_allowed_everything_the_api_does(client, recorder):
    workload = {"metadata": {"name": "photos-thumbnail"},
                "spec": {"target": {"kind": "ECSService", "cluster": "ballast-dev", "service": "thumbnail"},
                         "queue": {"name": "ballast-dev-thumbnail"}, "minReplicas": 0, "maxReplicas": 4}}
    nodepool = {"metadata": {"name": "general"}, "spec": {
        "provider": {"kind": "AutoScalingGroup", "autoScalingGroupName": "ballast-dev-nodes"},
        "instance": {"cpuMillicores": 2000, "memoryMiB": 4096}, "maxNodes": 3}}
    for path, body in (("/workloads", workload), ("/nodepools", nodepool)):
        assert client.http.post(path, headers=JSON, body=json.dumps(body)).status_code == 201
        name = body["metadata"]["name"]
        assert client.http.get(f"{path}/{name}").status_code == 200
        assert client.http.get(path).status_code == 200
        assert client.http.patch(f"{path}/{name}", headers={"Content-Type": "application/merge-patch+json"},
                                 body=json.dumps({"metadata": {"labels": {"app": "photos"}}})).status_code == 200
    assert client.http.put("/workloads/photos-thumbnail/scale", headers=JSON,
                           body=json.dumps({"spec": {"replicas": 2}})).status_code == 200
    assert client.http.get("/events").status_code == 200
    upload_answer = json.loads(client.http.post("/images", headers=JSON, body=json.dumps(
        {"op": "grayscale", "name": "beach.jpg", "contentType": "image/jpeg", "size": 8})).body)
    boto3.client("s3").put_object(Bucket=BUCKET, Key=upload_answer["key"], Body=b"original")
    image = json.loads(client.http.get("/images/grayscale/beach.jpg").body)
    assert client.http.get("/images/grayscale/gone.jpg").status_code == 404
    assert client.http.get("/images").status_code == 200
    assert client.http.delete("/images/grayscale/beach.jpg").status_code == 200
    for path in ("/workloads/photos-thumbnail", "/nodepools/general"):
        assert client.http.delete(path, headers=JSON).status_code == 200
    # The presigned URLs are used later by the caller, but S3 checks them against this function's role.
    output = f"arn:aws:s3:::{BUCKET}/{upload_answer['key'].replace('input/', 'output/', 1)}"
    recorder.calls += [iam.Call("s3:PutObject", f"arn:aws:s3:::{BUCKET}/{upload_answer['key']}"),
                       iam.Call("s3:GetObject", f"arn:aws:s3:::{BUCKET}/{image['key']}"),
                       iam.Call("s3:GetObject", output)]
    assert_allowed("api_handler", recorder, {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query",
                                             "dynamodb:UpdateItem", "dynamodb:DeleteItem", "s3:GetObject",
                                             "s3:DeleteObject", "s3:PutObject"})


def test_ingest_is_allowed_its_job_records_the_work_queue_and_the_nudge(client, recorder):
    assert client.http.post("/workloads", headers=JSON, body=json.dumps({"metadata": {"name": "photos-grayscale"}, "spec": {
        "target": {"kind": "ECSService", "cluster": "ballast-dev", "service": "ballast-dev-grayscale"},
        "queue": {"name": "ballast-dev-grayscale"}, "minReplicas": 0, "maxReplicas": 4}})).status_code == 201
    recorder.calls.clear()
    upload(client, "input/grayscale/u-local/beach.jpg", b"original")
    assert drain(config.NUDGE_QUEUE), "the scenario must wake the controller"
    assert_allowed("on_upload", recorder, {"dynamodb:PutItem", "dynamodb:UpdateItem", "sqs:SendMessage"})


@pytest.mark.parametrize("function, queue, message", [
    pytest.param("on_completion", "ballast-dev-completions",
                 lambda work: {**work, "status": "done", "finishedAt": "2026-11-25T06:00:03+00:00", "durationMs": 40},
                 id="completion"),
    pytest.param("on_dead_letter", "ballast-dev-dead-letters", lambda work: work, id="dead-letter"),
])
def test_the_queue_consumers_are_allowed_to_end_a_job(client, recorder, function, queue, message):
    upload(client, "input/grayscale/u-local/beach.jpg", b"original")
    [work] = drain("ballast-dev-grayscale")
    recorder.calls.clear()
    client.lambda_.invoke(function, sqs_event(queue, message(work)))
    job = wiring.store().get("Job", "u-local", work["jobId"])
    assert job["status"]["phase"] in ("Done", "Failed")
    # Lambda's event source mapping reads the queue with the function's role, not through the handler.
    arn = f"arn:aws:sqs:us-east-1:123456789012:{queue}"
    recorder.calls += [iam.Call(action, arn) for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")]
    assert_allowed(function, recorder, {"dynamodb:UpdateItem"})


@pytest.fixture
def world(stack, recorder):
    """The stage's workers from infra/workers.yaml (EC2 nodes) and an EKS cluster of the stage behind a Kubernetes stub."""
    infra.create_stack(boto3.client("cloudformation"), infra.stage_environment("dev"), infra.WORKERS_TEMPLATE,
                       LaunchType="EC2")
    eks = boto3.client("eks")
    eks.create_cluster(name="ballast-dev-eks", roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    eks.create_nodegroup(clusterName="ballast-dev-eks", nodegroupName="workers", nodeRole="arn:aws:iam::123456789012:role/node",
                         subnets=["subnet-1"], scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": 0})
    stub = KubeStub(cluster="ballast-dev-eks").start()
    stub.secret_key = boto3.Session().get_credentials().secret_key
    stub.deployments[("images", "thumbnail")] = Deployment(replicas=0, ready=0)

    def point_at_stub(parsed, **_):
        parsed["cluster"].update(endpoint=stub.endpoint, certificateAuthority={"data": stub.ca_data})

    wiring.client("eks").meta.events.register("after-call.eks.DescribeCluster", point_at_stub)
    store = wiring.store()
    pools = {"ecs-nodes": {"kind": "AutoScalingGroup", "autoScalingGroupName": "ballast-dev-nodes"},
             "eks-nodes": {"kind": "EKSNodegroup", "cluster": "ballast-dev-eks", "nodegroup": "workers"}}
    targets = {"grayscale": {"kind": "ECSService", "cluster": "ballast-dev", "service": "ballast-dev-grayscale"},
               "thumbnail": {"kind": "Deployment", "cluster": "ballast-dev-eks", "namespace": "images", "name": "thumbnail"}}
    from chalicelib.spec import parse_spec

    for name, provider in pools.items():
        store.create(parse_spec("NodePool", {"metadata": {"name": name}, "spec": {
            "provider": provider, "instance": {"cpuMillicores": 2000, "memoryMiB": 4096}, "maxNodes": 4}}))
    for op, target in targets.items():
        pool = "ecs-nodes" if target["kind"] == "ECSService" else "eks-nodes"
        store.create(parse_spec("Workload", {"metadata": {"name": f"photos-{op}"}, "spec": {
            "target": target, "queue": {"name": f"ballast-dev-{op}"}, "minReplicas": 0, "maxReplicas": 4,
            "resources": {"cpuMillicores": 1000, "memoryMiB": 1024}, "nodePools": [pool],
            "metrics": [{"type": "Backlog", "backlog": {"targetPerReplica": 1}},
                        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                     "averageUtilization": 70}}}]}}))
        sqs = boto3.client("sqs")
        url = sqs.get_queue_url(QueueName=f"ballast-dev-{op}")["QueueUrl"]
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "{}"} for i in range(3)])
    yield store
    stub.stop()


CONTROLLER_CALLS = {"ecs:DescribeServices", "ecs:UpdateService", "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:SetDesiredCapacity", "eks:DescribeNodegroup", "eks:UpdateNodegroupConfig",
                    "eks:DescribeCluster", "sqs:GetQueueAttributes", "cloudwatch:GetMetricData", "dynamodb:BatchWriteItem"}


@pytest.mark.parametrize("function, event", [
    pytest.param("tick", load_event("schedule_tick"), id="schedule"),
    pytest.param("on_nudge", sqs_event("ballast-dev-nudge", {"workload": "photos-grayscale", "namespace": "default",
                                                             "reason": "work arrived", "at": "2026-11-25T06:00:00+00:00"}),
                 id="nudge"),
])
def test_the_controller_is_allowed_to_observe_and_scale_the_stages_fleets(client, world, recorder, function, event):
    recorder.calls.clear()
    client.lambda_.invoke(function, event)
    grayscale = boto3.client("ecs").describe_services(cluster="ballast-dev", services=["ballast-dev-grayscale"])
    assert grayscale["services"][0]["desiredCount"] > 0
    assert_allowed(function, recorder, CONTROLLER_CALLS)


# ---- the files themselves ------------------------------------------------------------------------------------------


def test_every_function_of_app_py_has_its_own_policy_file_in_every_stage():
    declared = {source.name for source in app.event_sources} | {f.name for f in app.pure_lambda_functions} | {"api_handler"}
    chalice = json.loads((policies.CHALICE / "config.json").read_text())
    for stage in STAGES:
        functions = chalice["stages"][stage]["lambda_functions"]
        assert set(functions) == declared == set(policies.FUNCTIONS)
        for function, settings in functions.items():
            assert settings == {"autogen_policy": False, "iam_policy_file": policies.file_name(stage, function)}


@pytest.mark.parametrize("stage", STAGES)
def test_the_policy_files_are_what_infra_policies_makes(stage):
    for function, document in policies.policies(stage).items():
        assert (policies.CHALICE / policies.file_name(stage, function)).read_text() == policies.render(document), (
            f"run `python -m infra.policies`: {policies.file_name(stage, function)} is stale")


@pytest.mark.parametrize("stage", STAGES)
def test_no_policy_has_a_wildcard_action_or_names_another_stage(stage):
    other = next(s for s in STAGES if s != stage)
    for function in policies.FUNCTIONS:
        document = policy(function, stage)
        assert all("*" not in action for action in iam.actions_in(document)), function
        resources = [r for statement in document["Statement"] for r in iam._listed(statement["Resource"])]
        scoped = [r for r in resources if r != "*"]
        assert all(f"ballast-{stage}" in r for r in scoped) and not any(f"ballast-{other}" in r for r in scoped), function
        assert all(set(iam._listed(s["Action"])) <= {"autoscaling:DescribeAutoScalingGroups", "cloudwatch:GetMetricData"}
                   for s in document["Statement"] if s["Resource"] == "*"), function


def test_a_policy_denies_what_another_function_needs():
    """The check has teeth: ingest cannot scale a service, the API cannot send work, the controller cannot read photos."""
    ecs = iam.Call("ecs:UpdateService", "arn:aws:ecs:us-east-1:123456789012:service/ballast-dev/ballast-dev-grayscale")
    send = iam.Call("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:ballast-dev-grayscale")
    photo = iam.Call("s3:GetObject", f"arn:aws:s3:::{BUCKET}/input/grayscale/u-local/beach.jpg")
    prod_table = iam.Call("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/ballast-prod")
    assert not iam.allows(policy("on_upload"), ecs)
    assert not iam.allows(policy("api_handler"), send)
    assert not iam.allows(policy("tick"), photo)
    assert not iam.allows(policy("tick"), prod_table)
    assert iam.allows(policy("tick"), ecs) and iam.allows(policy("on_upload"), send) and iam.allows(policy("api_handler"), photo)
