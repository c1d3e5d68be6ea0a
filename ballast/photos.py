"""`ballast upload`, `download` and `rm`: photos in and results out, through the images API's presigned URLs."""
from __future__ import annotations

import mimetypes
import threading
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from urllib.parse import quote

from ballast.api_client import Api, ApiError
from ballast.errors import UsageError

UPLOAD_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


def cmd_upload(api: Api, args) -> str:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    root = Path(args.directory)
    files = sorted(p for p in (root.rglob("*") if root.is_dir() else [root]) if p.is_file() and p.suffix.lower() in UPLOAD_TYPES)
    if not files:
        raise UsageError(f"no .jpg, .jpeg or .png files under {root}")
    failures: list[str] = []
    lock = threading.Lock()

    def send(path: Path) -> None:
        data = path.read_bytes()
        grant = api.post("/images", {"op": args.op, "name": path.name, "contentType": UPLOAD_TYPES[path.suffix.lower()], "size": len(data)})
        post_form(grant["url"], grant["fields"], path.name, data)

    columns = (TextColumn("uploading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=args.quiet, transient=False) as progress, ThreadPoolExecutor(args.concurrency) as pool:
        bar = progress.add_task("upload", total=len(files))
        futures = {pool.submit(send, path): path for path in files}
        for future in as_completed(futures):
            try:
                future.result()
            except (ApiError, OSError) as error:
                with lock:
                    failures.append(f"{futures[future].name}: {error}")
            progress.advance(bar)
    lines = [f"uploaded {len(files) - len(failures)} of {len(files)} images to {args.op}"] + [f"  failed {f}" for f in failures]
    if failures:
        raise UsageError("\n".join(lines))
    return lines[0]


def post_form(url: str, fields: dict[str, str], filename: str, data: bytes) -> None:
    """A browser-style multipart POST of a presigned S3 form: the fields first, the file last, as S3 requires."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    content_type = fields.get("Content-Type") or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(url, data=b"".join(parts), method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()


def cmd_download(api: Api, args) -> str:
    targets = [_image_ref(ref) for ref in args.images]
    if args.all:
        targets += [(i["op"], i["name"]) for i in api.all_items("/images") if i["phase"] == "Done"]
    if not targets:
        raise UsageError("name images as OP/NAME, or give --all")
    out = Path(args.dir)
    lines = []
    for op, name in targets:
        image = api.get(f"/images/{op}/{quote(name, safe='')}")
        which = image["original"] if args.original else image.get("output")
        if not which:
            lines.append(f"{op}/{name}: no output yet (phase {image.get('phase')}{', ' + image['reason'] if image.get('reason') else ''})")
            continue
        path = out / ("input" if args.original else "output") / op / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(which["url"], timeout=120) as response:
            path.write_bytes(response.read())
        lines.append(f"{op}/{name} → {path}")
    return "\n".join(lines)


def cmd_rm(api: Api, args) -> str:
    lines = []
    for op, name in (_image_ref(ref) for ref in args.images):
        deleted = api.delete(f"/images/{op}/{quote(name, safe='')}")["deleted"]
        lines.append(f"{op}/{name} deleted (original, output, {deleted['jobs']} job(s))")
    return "\n".join(lines)


def _image_ref(ref: str) -> tuple[str, str]:
    op, sep, name = ref.partition("/")
    if not sep or not name:
        raise UsageError(f"images are named OP/NAME (e.g. thumbnail/cat.jpg), got {ref!r}")
    return op, name


def add_commands(commands) -> None:
    upload = commands.add_parser("upload", help="upload a directory's photos for one operation")
    upload.add_argument("directory")
    upload.add_argument("--op", required=True)
    upload.add_argument("--concurrency", type=int, default=8)
    upload.add_argument("--quiet", action="store_true")
    upload.set_defaults(run=cmd_upload)

    download = commands.add_parser("download", help="download results (or originals) by OP/NAME, or all finished ones")
    download.add_argument("images", nargs="*")
    download.add_argument("--all", action="store_true")
    download.add_argument("--original", action="store_true")
    download.add_argument("-d", "--dir", default=".")
    download.set_defaults(run=cmd_download)

    rm = commands.add_parser("rm", help="delete images: original, output and jobs")
    rm.add_argument("images", nargs="+")
    rm.set_defaults(run=cmd_rm)
