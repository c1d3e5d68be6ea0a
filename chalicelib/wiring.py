"""Lazy, cached boto3 clients and the adapters built on them: created on first use, so moto's mock sees them."""
from dataclasses import dataclass
from functools import cache

import boto3
from botocore.config import Config

from chalicelib import config
from chalicelib.adapters.aws import RETRY_CONFIG
from chalicelib.adapters.fleets import Fleets
from chalicelib.adapters.kubernetes import Kubernetes
from chalicelib.adapters.metrics import Metrics
from chalicelib.adapters.nodegroups import NodeGroups
from chalicelib.adapters.objects import Objects
from chalicelib.adapters.queues import Queues
from chalicelib.adapters.store import Store


@cache
def client(service: str):
    return boto3.client(service, config=RETRY_CONFIG)


@cache
def store() -> Store:
    return Store(boto3.resource("dynamodb", config=RETRY_CONFIG).Table(config.TABLE))


@cache
def queues() -> Queues:
    return Queues(client("sqs"))


@cache
def objects() -> Objects:
    # SigV4 so presigned URLs work in every region (and against moto's server locally).
    return Objects(boto3.client("s3", config=RETRY_CONFIG.merge(Config(signature_version="s3v4"))))


@dataclass(frozen=True)
class Adapters:
    """What the controller reads and drives; tests hand reconcile fakes of the same shape."""

    store: Store
    queues: Queues
    fleets: Fleets
    nodegroups: NodeGroups
    metrics: Metrics


@cache
def adapters() -> Adapters:
    kubernetes = Kubernetes(client("sts"), client("eks"))
    return Adapters(store(), queues(), Fleets(client("ecs"), kubernetes), NodeGroups(client("autoscaling"), client("eks")),
                    Metrics(client("cloudwatch")))


def reset() -> None:
    """Forget every client: tests and the local runtime start each AWS (or moto) session afresh."""
    client.cache_clear()
    store.cache_clear()
    queues.cache_clear()
    objects.cache_clear()
    adapters.cache_clear()
