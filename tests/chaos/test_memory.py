"""Peak memory of each operation on the largest image the pixel cap allows, in each colour model, in a worker process.

The local task has 512 MiB (local/runtime.py Shape.task_memory_mib), the AWS one 2 GiB by default: each operation
must peak inside the smaller with room to spare. Measured as the process's high-water RSS (VmHWM), reset between
operations, in a process that imported what a worker imports.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from local import photos
from local.runtime import Shape
from workers import ops

ROOT = Path(__file__).resolve().parents[2]
# A tenth of the task left over: the interpreter's own pages, and what the heap keeps after a big free.
CAP_MIB = Shape().task_memory_mib * 0.9
PEAKS = """
import sys
from pathlib import Path
import workers.worker  # boto3 and the rest: what a worker's process holds before its first image
from workers import ops

def peak_mib():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) // 1024

data = Path(sys.argv[1]).read_bytes()
for op in ops.OPS:
    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts again from what is resident now
    ops.apply(op, data)
    print(op, peak_mib())
"""


@pytest.fixture(scope="module")
def largest(tmp_path_factory) -> dict[str, Path]:
    return photos.largest(tmp_path_factory.mktemp("largest"), ops.DEFAULT_MAX_PIXELS)


@pytest.mark.parametrize("model", photos.LARGEST_MODELS)
def test_every_operation_on_the_largest_allowed_image_peaks_inside_the_tasks_memory(largest, model):
    run = subprocess.run([sys.executable, "-c", PEAKS, str(largest[model])], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    peaks = {op: int(mib) for op, mib in (line.split() for line in run.stdout.splitlines())}
    print(model, peaks)
    assert set(peaks) == set(ops.OPS)
    assert {op: mib for op, mib in peaks.items() if mib > CAP_MIB} == {}, f"over {CAP_MIB:.0f} MiB"
