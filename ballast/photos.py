"""`ballast upload`, `download` and `rm`: photos in and results out, through the images API's presigned URLs."""
from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from urllib.parse import quote

from ballast.api_client import Api, ApiError
from ballast.errors import Failed, UsageError

# What the workers decode (workers/ops.py ACCEPTED_FORMATS) and the images API takes, by file suffix.
UPLOAD_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
                ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff", ".bmp": "image/bmp"}
RESULT_SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png"}  # what workers/ops.py writes
OPERATIONS = ("grayscale", "thumbnail", "watermark")  # chalicelib.config.OPERATIONS, which a test holds this to
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the images API's limit
TRANSFER_TIMEOUT_S = 120


def _plan(root: Path) -> tuple[list[Path], list[str]]:
    """The files to upload and, for every other one, why it is skipped."""
    if not root.exists():
        raise UsageError(f"{root}: no such file or directory")
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    chosen, skipped = [], []
    for path in files:
        if path.suffix.lower() not in UPLOAD_TYPES:
            skipped.append(f"{path}: not a photo the workers take ({', '.join(sorted(set(UPLOAD_TYPES)))})")
        else:
            chosen.append(path)
    return chosen, skipped


def cmd_upload(api: Api, args) -> str:
    if args.op not in OPERATIONS:
        raise UsageError(f"--op must be one of {', '.join(OPERATIONS)}, got {args.op!r}")
    if args.concurrency < 1:
        raise UsageError(f"--concurrency must be 1 or more, got {args.concurrency}")
    root = Path(args.directory)
    files, skipped = _plan(root)
    if not files:
        raise UsageError(f"no photos under {root} ({', '.join(sorted(UPLOAD_TYPES))})"
                         + (f"; skipped {len(skipped)} other files" if skipped else ""))
    failures: list[str] = []

    def send(path: Path) -> None:
        size = path.stat().st_size
        if size == 0 or size > MAX_UPLOAD_BYTES:
            raise ValueError("empty file" if size == 0 else f"{size / 2**20:.0f} MiB is over the API's 50 MiB")
        data = path.read_bytes()
        grant = api.post("/images", {"op": args.op, "name": path.name, "contentType": UPLOAD_TYPES[path.suffix.lower()],
                                     "size": len(data)})
        post_form(grant["url"], grant["fields"], path.name, data, UPLOAD_TYPES[path.suffix.lower()])

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    # Progress goes to stderr: stdout keeps the result lines a script reads.
    columns = (TextColumn(f"uploading to {args.op}"), BarColumn(),
               TextColumn("{task.fields[sent]} sent, {task.fields[failed]} failed of {task.total}"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=args.quiet, transient=False) as progress, \
            ThreadPoolExecutor(args.concurrency) as pool:
        bar = progress.add_task("upload", total=len(files), sent=0, failed=0)
        futures = {pool.submit(send, path): path for path in files}
        for finished, future in enumerate(as_completed(futures), 1):
            try:
                future.result()
            except (ApiError, OSError, ValueError, urllib.error.URLError) as error:
                failures.append(f"{futures[future]}: {error}")
            progress.update(bar, advance=1, sent=finished - len(failures), failed=len(failures))
    sent = len(files) - len(failures)
    summary = f"uploaded {sent} of {len(files)} photos to {args.op}" + (f"; skipped {len(skipped)} other files" if skipped else "")
    lines = [summary] + [f"  skipped {s}" for s in skipped] + [f"  failed {f}" for f in sorted(failures)]
    if failures:
        raise Failed(f"{len(failures)} of {len(files)} uploads failed (listed above)", "\n".join(lines))
    return "\n".join(lines)


def post_form(url: str, fields: dict[str, str], filename: str, data: bytes, content_type: str) -> None:
    """A browser-style multipart POST of a presigned S3 form: the fields first, the file last, as S3 requires."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    # RFC 7578: the filename is informative only (S3 takes the key from the fields); quote what would break the header.
    shown = filename.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{shown}"\r\n'
                 f"Content-Type: {fields.get('Content-Type') or content_type}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(url, data=b"".join(parts), method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=TRANSFER_TIMEOUT_S) as response:
            response.read()
    except urllib.error.HTTPError as error:
        raise OSError(f"the storage refused the upload ({error.code} {error.reason})") from None


def image_path(op: str, name: str) -> str:
    """/images/OP/NAME with the name's every reserved character escaped: spaces, +, ?, #, % and unicode arrive whole."""
    return f"/images/{quote(op, safe='')}/{quote(name, safe='')}"


def cmd_download(api: Api, args) -> str:
    targets = [_image_ref(ref) for ref in args.images]
    if args.all:
        targets += [(i["op"], i["name"]) for i in api.all_items("/images") if i["phase"] == "Done"]
    if not targets:
        raise UsageError("name images as OP/NAME, or give --all")
    out = Path(args.dir)
    lines, failures = [], []
    for op, name in targets:
        try:
            lines.append(_download(api, op, name, out, args.original))
        except (ApiError, OSError, urllib.error.URLError, ValueError) as error:
            failures.append(f"{op}/{name}: {error}")
    if failures:
        raise Failed(f"{len(failures)} of {len(targets)} downloads failed: " + "; ".join(failures), "\n".join(lines))
    return "\n".join(lines) if lines else "nothing to download"


def _download(api: Api, op: str, name: str, out: Path, original: bool) -> str:
    image = api.get(image_path(op, name))
    which = image["original"] if original else image.get("output")
    if not which:
        phase, reason = image.get("phase"), image.get("reason")
        if phase == "Failed":
            raise ValueError(f"the job failed ({reason or 'no reason given'}); there is no output (--original fetches the upload)")
        raise ValueError(f"no output yet (phase {phase or 'not started'})")
    path = out / ("input" if original else "output") / op / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(which["url"], timeout=TRANSFER_TIMEOUT_S) as response:
        data, kind = response.read(), response.headers.get_content_type()
    note = ""
    if kind in RESULT_SUFFIXES and UPLOAD_TYPES.get(path.suffix.lower()) != kind:
        # The workers write every result that is not a JPEG as a PNG, under the upload's name: say so in the file's.
        path = path.with_name(path.name + RESULT_SUFFIXES[kind])
        note = f" ({kind.split('/')[1].upper()}: the workers write results other than JPEG as PNG)"
    path.write_bytes(data)
    return f"{op}/{name} → {path}{note}"


def cmd_rm(api: Api, args) -> str:
    lines, failures = [], []
    refs = [_image_ref(ref) for ref in args.images]
    for op, name in refs:
        try:
            deleted = api.delete(image_path(op, name))["deleted"]
            lines.append(f"{op}/{name} deleted (original, output, {deleted['jobs']} job(s))")
        except ApiError as error:
            failures.append(f"{op}/{name}: {error}")
    if failures:
        raise Failed(f"{len(failures)} of {len(refs)} deletions failed: " + "; ".join(failures), "\n".join(lines))
    return "\n".join(lines)


def _image_ref(ref: str) -> tuple[str, str]:
    op, sep, name = ref.partition("/")
    if not sep or not name:
        raise UsageError(f"images are named OP/NAME (e.g. thumbnail/cat.jpg), got {ref!r}")
    if op not in OPERATIONS:
        raise UsageError(f"{ref!r}: the operation must be one of {', '.join(OPERATIONS)}")
    return op, name


def add_commands(commands) -> None:
    upload = commands.add_parser("upload", help="upload a directory's photos (or one photo) for one operation",
                                 description=f"formats: {', '.join(sorted(UPLOAD_TYPES))}; other files are named and skipped",
                                 epilog="examples:\n  ballast upload ~/Pictures/holiday --op thumbnail\n"
                                        "  ballast upload scan.tiff --op grayscale --quiet")
    upload.add_argument("directory", help="a directory (searched recursively) or one file")
    upload.add_argument("--op", required=True, help=f"one of {', '.join(OPERATIONS)}")
    upload.add_argument("--concurrency", type=int, default=8)
    upload.add_argument("--quiet", action="store_true", help="no progress bar")
    upload.set_defaults(run=cmd_upload)

    download = commands.add_parser("download", help="download results (or originals) by OP/NAME, or all finished ones",
                                   epilog="examples:\n  ballast download thumbnail/beach.jpg\n"
                                          "  ballast download --all -d results/\n"
                                          "  ballast download 'grayscale/my photo.png' --original")
    download.add_argument("images", nargs="*", help="OP/NAME, as `ballast get jobs` lists them")
    download.add_argument("--all", action="store_true", help="every finished image")
    download.add_argument("--original", action="store_true", help="the uploads rather than the results")
    download.add_argument("-d", "--dir", default=".", help="where to write input/OP/NAME or output/OP/NAME")
    download.set_defaults(run=cmd_download)

    rm = commands.add_parser("rm", help="delete images: original, output and jobs",
                             epilog="examples:\n  ballast rm thumbnail/beach.jpg 'grayscale/my photo.png'")
    rm.add_argument("images", nargs="+", help="OP/NAME")
    rm.set_defaults(run=cmd_rm)
