"""The worker container's contract: what the environment must name, and the knobs it may set."""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Mapping

from workers import ops

LONG_POLL_S = 20  # SQS's longest wait
# The work queues' visibility timeout (infra/ballast.yaml): short, since the heartbeat extends what is in hand, so a
# killed worker's messages come back within it.
VISIBILITY_TIMEOUT_S = 30


@dataclass(frozen=True)
class Settings:
    op: str
    work_queue_url: str
    completions_queue_url: str
    bucket: str
    watermark_logo: str = str(ops.DEFAULT_LOGO)
    thumbnail_size: int = ops.DEFAULT_THUMBNAIL_SIZE
    max_pixels: int = ops.DEFAULT_MAX_PIXELS
    stop_timeout_s: float = 30.0
    visibility_timeout_s: int = VISIBILITY_TIMEOUT_S
    poll_wait_s: int = LONG_POLL_S
    agent_uri: str | None = None  # ECS_AGENT_URI, which ECS sets in every task: the task-protection endpoint's base
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, op: str | None = None) -> Settings:
        """The container's contract: BALLAST_OP (or op), three required names, optional knobs with defaults."""
        op = op or environ.get("BALLAST_OP", "")
        if op not in ops.OPS:
            raise ValueError(f"BALLAST_OP must be one of {', '.join(ops.OPS)}, got {op!r}")
        missing = [name for name in ("WORK_QUEUE_URL", "COMPLETIONS_QUEUE_URL", "BALLAST_BUCKET") if not environ.get(name)]
        if missing:
            raise ValueError(f"missing environment variables: {', '.join(missing)}")
        stop_timeout_s = float(environ.get("STOP_TIMEOUT_S", 30))
        return cls(
            op=op,
            work_queue_url=environ["WORK_QUEUE_URL"],
            completions_queue_url=environ["COMPLETIONS_QUEUE_URL"],
            bucket=environ["BALLAST_BUCKET"],
            watermark_logo=environ.get("WATERMARK_LOGO") or str(ops.DEFAULT_LOGO),
            thumbnail_size=int(environ.get("THUMBNAIL_SIZE", ops.DEFAULT_THUMBNAIL_SIZE)),
            max_pixels=int(environ.get("MAX_PIXELS", ops.DEFAULT_MAX_PIXELS)),
            stop_timeout_s=stop_timeout_s,
            visibility_timeout_s=int(environ.get("VISIBILITY_TIMEOUT_S", VISIBILITY_TIMEOUT_S)),
            # A receive cannot be interrupted, so it must end inside the stop timeout with time left to give back.
            poll_wait_s=max(1, min(LONG_POLL_S, int(stop_timeout_s) - 5)),
            agent_uri=environ.get("ECS_AGENT_URI") or None,
        )
