"""Names and knobs, read once from the stage's environment (.chalice/config.json sets them per stage)."""
import os

STAGE = os.environ["BALLAST_STAGE"]
TABLE = os.environ["BALLAST_TABLE"]
BUCKET = os.environ["BALLAST_BUCKET"]
CLUSTER = os.environ["BALLAST_CLUSTER"]
QUEUE_PREFIX = os.environ["BALLAST_QUEUE_PREFIX"]
COMPLETIONS_QUEUE = os.environ["BALLAST_COMPLETIONS_QUEUE"]
NUDGE_QUEUE = os.environ["BALLAST_NUDGE_QUEUE"]
DEAD_LETTER_QUEUE = os.environ["BALLAST_DEAD_LETTER_QUEUE"]
OPERATIONS = tuple(op for op in os.environ["BALLAST_OPERATIONS"].split(",") if op)

TICK_INTERVAL_S = float(os.environ["BALLAST_TICK_INTERVAL_S"])
LEASE_TTL_S = float(os.environ["BALLAST_LEASE_TTL_S"])
EVENT_TTL_S = int(os.environ["BALLAST_EVENT_TTL_S"])
MAX_BODY_BYTES = int(os.environ["BALLAST_MAX_BODY_BYTES"])
# Lambda gathers completions this long (or until 10 arrive) before an invocation: a job's status may lag its worker by
# as much, and a busy fleet's completions cost one invocation and one stats write per ten jobs instead of one per job.
COMPLETIONS_BATCHING_WINDOW_S = 1
# A global switch on top of each Workload's own spec.dryRun: record decisions, call no scaling API.
DRY_RUN = os.environ["BALLAST_DRY_RUN"].lower() == "true"


def work_queue(op: str) -> str:
    return f"{QUEUE_PREFIX}{op}"
