"""Deterministic, realistic test photos for the pipeline's benchmark and demo: the same seed gives the same bytes.

Content is a photograph's statistics, not its subject: a sky-to-ground gradient, soft shapes, a few sharp lines and
sensor noise, so JPEG and PNG sizes and codec times are those of real photos. The mix covers what reaches the workers
in practice: 12 MP / 3 MP / 1080p / small, EXIF-rotated and CMYK JPEGs, RGBA, palette and 16-bit PNGs, and bad files.

    python -m local.photos OUT_DIR --n 30 --seed 1
"""
from __future__ import annotations

import argparse
import io
import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PIL import Image, ImageChops, ImageDraw, ImageFilter

SIZES = {"12mp": (4032, 3024), "3mp": (2000, 1500), "1080p": (1920, 1080), "small": (640, 480)}
# Weights: most uploads are phone-sized or smaller; 12 MP ones dominate the work all the same.
DEFAULT_SIZES = {"12mp": 1, "3mp": 2, "1080p": 3, "small": 4}
GOOD_KINDS = ("jpeg", "jpeg", "jpeg", "jpeg-exif-rotated", "jpeg-cmyk", "png", "png-alpha", "png-palette", "png-16bit")
BAD_KINDS = ("truncated", "zero-bytes", "not-an-image", "bomb")
EXTENSIONS = {"png": "png", "png-alpha": "png", "png-palette": "png", "png-16bit": "png", "bomb": "png"}
BOMB_SIZE = (100_000, 100_000)
NOISE_TILE = 509  # prime, so the repeating noise never lines up with JPEG's 8x8 blocks
EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Photo:
    name: str
    kind: str
    bad: bool
    width: int | None  # as displayed, after EXIF orientation; None for a bad file
    height: int | None
    bytes: int


def generate(target: str | Path | Callable[[str, bytes], None], n: int, seed: int = 0,
             sizes: dict[str, int] | tuple[str, ...] = DEFAULT_SIZES, bad_fraction: float = 0.1,
             kinds: tuple[str, ...] = GOOD_KINDS) -> list[Photo]:
    """Write n photos into a directory, or hand each (name, data) to a callback; returns what was made, in order.

    sizes: names from SIZES, or a {name: weight} mix. About bad_fraction of the files are bad, cycling through BAD_KINDS.
    """
    rng = random.Random(seed)
    weights = sizes if isinstance(sizes, dict) else {name: 1 for name in sizes}
    write = target if callable(target) else _writer(Path(target))
    bad_at = set(rng.sample(range(n), round(n * bad_fraction))) if n else set()
    photos = []
    for index in range(n):
        bad = index in bad_at
        kind = BAD_KINDS[len([i for i in bad_at if i < index]) % len(BAD_KINDS)] if bad else rng.choice(kinds)
        size = SIZES[rng.choices(list(weights), weights=list(weights.values()))[0]]
        data, shown = render(kind, size, random.Random(rng.getrandbits(64)))
        name = f"{index:05d}-{kind}.{EXTENSIONS.get(kind, 'jpg')}"
        write(name, data)
        photos.append(Photo(name, kind, bad, shown[0] if shown else None, shown[1] if shown else None, len(data)))
    return photos


def render(kind: str, size: tuple[int, int], rng: random.Random) -> tuple[bytes, tuple[int, int] | None]:
    """One file of the given kind: its bytes and its displayed size (None when it is not a usable image)."""
    if kind == "zero-bytes":
        return b"", None
    if kind == "not-an-image":
        return b"Quarterly report\nThis file was renamed to .jpg by mistake.\n" * 20, None
    if kind == "bomb":
        return _bomb_png(*BOMB_SIZE), None
    if kind == "truncated":
        whole = _save(picture(size, rng), "JPEG", quality=90)
        return whole[: len(whole) * 6 // 10], None
    if kind == "jpeg":
        return _save(picture(size, rng), "JPEG", quality=90), size
    if kind == "jpeg-exif-rotated":
        # A phone held upright stores the sensor's landscape pixels and says "rotate 90° clockwise" (orientation 6).
        shown = (size[1], size[0])
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = 6
        stored = picture(shown, rng).transpose(Image.Transpose.ROTATE_90)
        return _save(stored, "JPEG", quality=90, exif=exif.tobytes()), shown
    if kind == "jpeg-cmyk":
        return _save(picture(size, rng).convert("CMYK"), "JPEG", quality=90), size
    if kind == "png":
        return _save(picture(size, rng), "PNG"), size
    if kind == "png-alpha":
        im = picture(size, rng)
        im.putalpha(_soft_mask(size, rng))
        return _save(im, "PNG"), size
    if kind == "png-palette":
        return _save(picture(size, rng).quantize(64), "PNG"), size
    if kind == "png-16bit":
        gray = picture(size, rng).convert("L").convert("I").point(lambda value: value * 257)
        return _save(gray.convert("I;16"), "PNG"), size
    raise ValueError(f"unknown kind {kind!r}")


LARGEST_MODELS = ("RGB JPEG", "RGBA PNG", "CMYK JPEG", "16-bit PNG")


def largest(folder: Path, max_pixels: int) -> dict[str, Path]:
    """One file per colour model of LARGEST_MODELS at just under `max_pixels`, for peak-memory measurements. Smooth
    pictures, so they encode in seconds: a decode's memory depends on the pixels' count, not on what they show."""
    side = int(max_pixels ** 0.5)
    size = (side, max_pixels // side)
    across = Image.linear_gradient("L").resize(size)
    down = across.transpose(Image.Transpose.ROTATE_90).resize(size)
    rgb = Image.merge("RGB", (across, down, across.point(lambda v: 255 - v)))
    files = dict(zip(LARGEST_MODELS, (folder / "rgb.jpg", folder / "rgba.png", folder / "cmyk.jpg", folder / "gray16.png")))
    rgb.save(files["RGB JPEG"], quality=90)
    rgb.convert("CMYK").save(files["CMYK JPEG"], quality=90)
    rgb.putalpha(down)
    rgb.save(files["RGBA PNG"], compress_level=1)
    across.convert("I").point(lambda v: v * 257).convert("I;16").save(files["16-bit PNG"], compress_level=1)
    return files


def picture(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """An RGB photo-like image: composed at a quarter of the size (cheap), enlarged, then sharp detail and noise."""
    width, height = size
    small = (max(1, width // 4), max(1, height // 4))
    top, bottom = _colour(rng), _colour(rng)
    im = Image.composite(Image.new("RGB", small, bottom), Image.new("RGB", small, top),
                         Image.linear_gradient("L").resize(small))
    draw = ImageDraw.Draw(im)
    for _ in range(rng.randint(6, 14)):
        x, y = rng.randrange(small[0]), rng.randrange(small[1])
        r = rng.randint(max(1, small[0] // 30), max(2, small[0] // 5))
        shape = rng.choice(("ellipse", "rectangle", "polygon"))
        if shape == "polygon":
            points = [(x + rng.randint(-r, r), y + rng.randint(-r, r)) for _ in range(rng.randint(3, 6))]
            draw.polygon(points, fill=_colour(rng))
        else:
            getattr(draw, shape)((x - r, y - r, x + r, y + r), fill=_colour(rng))
    im = im.filter(ImageFilter.GaussianBlur(radius=1.5)).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(im)
    for _ in range(rng.randint(10, 30)):
        start = (rng.randrange(width), rng.randrange(height))
        end = (start[0] + rng.randint(-width // 6, width // 6), start[1] + rng.randint(-height // 6, height // 6))
        draw.line((start, end), fill=_colour(rng), width=rng.randint(1, 3))
    return ImageChops.add(im, _noise(size, rng), offset=-8)


def _noise(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Sensor noise in 0..15 per channel (centred by the caller), tiled from one random tile to stay fast."""
    tile = Image.frombytes("RGB", (NOISE_TILE, NOISE_TILE), rng.randbytes(NOISE_TILE * NOISE_TILE * 3))
    tile = tile.point(lambda value: value >> 4)
    noise = Image.new("RGB", size)
    for x in range(0, size[0], NOISE_TILE):
        for y in range(0, size[1], NOISE_TILE):
            noise.paste(tile, (x, y))
    return noise


def _soft_mask(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """An opaque rounded subject fading to a transparent border, as a cut-out product photo has."""
    small = (max(1, size[0] // 8), max(1, size[1] // 8))
    mask = Image.new("L", small, 0)
    inset = (small[0] // rng.randint(6, 12), small[1] // rng.randint(6, 12))
    ImageDraw.Draw(mask).rounded_rectangle((inset[0], inset[1], small[0] - inset[0], small[1] - inset[1]),
                                           radius=min(small) // 6, fill=255)
    return mask.filter(ImageFilter.GaussianBlur(radius=2)).resize(size, Image.Resampling.BILINEAR)


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header announcing width x height pixels, followed by almost no data: a decompression bomb."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
            + chunk(b"IEND", b""))


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def _save(im: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def _writer(directory: Path) -> Callable[[str, bytes], None]:
    directory.mkdir(parents=True, exist_ok=True)
    return lambda name, data: (directory / name).write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bad-fraction", type=float, default=0.1)
    args = parser.parse_args()
    for photo in generate(args.out, args.n, args.seed, bad_fraction=args.bad_fraction):
        print(f"{photo.name}\t{photo.bytes}\t{'bad' if photo.bad else f'{photo.width}x{photo.height}'}")


if __name__ == "__main__":
    main()
