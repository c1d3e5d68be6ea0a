"""`python -m infra.migrate --stage prod`: brings a stage's stored objects to the key scheme this version reads.

Run once after `chalice deploy` of a version that reconciles every namespace (Workloads and NodePools moved from a
partition per namespace to one per kind), and gives each object stored before ownership claims existed the claim
of its target or node group, so the API refuses a second owner of it as it does for objects created since. Where two
objects already share one (created before the check), the first by namespace and name gets the claim and both are
named; the controller scales neither until one is gone (AmbiguousSelector). Idempotent: a second run moves and claims
nothing. Prints what it moved, claimed and found shared; exit 1 if the store could not be read or written, or an
object could not move because one of its name was created under the new keys since the upgrade (it is named).
"""
from __future__ import annotations

import argparse
import os
import sys

import boto3

import infra
from infra.deploy import _stages


def main(argv: list[str] | None = None, dynamodb=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.migrate", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True, choices=sorted(_stages()))
    args = parser.parse_args(argv)
    os.environ.update(infra.stage_environment(args.stage))
    from chalicelib.adapters.store import Store
    from chalicelib.errors import BallastError

    store = Store((dynamodb or boto3.resource("dynamodb")).Table(os.environ["BALLAST_TABLE"]))
    try:
        moved = store.migrate_namespaced_keys()
        claimed, shared = _claim_unclaimed(store)
        left = store.old_keys_left()
    except BallastError as error:
        print(f"migrate: {error}", file=sys.stderr)
        return 1
    print(f"{moved} objects moved to the key scheme that lists every namespace; {claimed} claims taken for objects "
          f"stored before claims existed")
    for line in shared:
        print(f"  {line}: neither is scaled until one is deleted or retargeted")
    for kind, namespace, name in left:
        print(f"migrate: {kind} {namespace}/{name} stays under its old key: a {kind} of that name was created since "
              f"the upgrade; delete that one (ballast delete {kind.lower()} {name} -n {namespace}) and run again to "
              f"move this one", file=sys.stderr)
    return 1 if left else 0


def _claim_unclaimed(store) -> tuple[int, list[str]]:
    """(claims taken, a line per object whose claim another holds), in namespace and name order."""
    from chalicelib.adapters.store import CLUSTER_LISTED
    from chalicelib.model import claims

    claimed, shared = 0, []
    for kind in CLUSTER_LISTED:
        for manifest in sorted(store.list_all(kind, None), key=lambda o: (o["metadata"]["namespace"],
                                                                          o["metadata"]["name"])):
            meta = manifest["metadata"]
            for claim in claims(kind, manifest):
                owner = store.owner_of(claim)
                if owner is not None and owner["uid"] == meta["uid"]:
                    continue
                owner = owner or store.take_claim(claim, kind, meta["namespace"], meta["name"], meta["uid"])
                if owner is None:
                    claimed += 1
                else:
                    shared.append(f"{kind} {meta['namespace']}/{meta['name']} shares {claim} with {owner['kind']} "
                                  f"{owner['namespace']}/{owner['name']}")
    return claimed, shared


if __name__ == "__main__":
    sys.exit(main())
