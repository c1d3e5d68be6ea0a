"""Running `ballast` as a user does: a process of its own, its exit code, stdout and stderr, never a traceback."""
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def rows(self) -> dict[str, dict[str, str]]:
        """A kubectl-style table by its first column, each row's cells cut at the header's column starts."""
        header, *rows = self.lines
        starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " " and header[i - 2:i] == "  ")]
        names = [header[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        cells = [{n: row[a:b].strip() for n, a, b in zip(names, starts, starts[1:] + [None])} for row in rows]
        return {cell[names[0]]: cell for cell in cells}


def clean_env(**extra: str) -> dict:
    """The caller's environment without AWS or Ballast settings, and no way to reach the EC2 metadata service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BALLAST_"))}
    env.update({"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})
    env.update(extra)
    return env


def ballast(*argv: str, env: dict | None = None, stdin: str | None = None, timeout: float = 60) -> Ran:
    done = subprocess.run([sys.executable, "-m", "ballast", *argv], cwd=ROOT, env=env if env is not None else clean_env(),
                          input=stdin, capture_output=True, text=True, timeout=timeout)
    ran = Ran(done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in ran.out + ran.err, ran.out + ran.err
    return ran
