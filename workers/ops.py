"""The workers' operations (DESIGN.md, "How data flows": transform): bytes in, bytes out, BadImage for input no worker can use."""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy
import simplejpeg
from PIL import Image, UnidentifiedImageError

OPS = ("grayscale", "watermark", "thumbnail")
DEFAULT_THUMBNAIL_SIZE = 256
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_LOGO = Path(__file__).with_name("logo.png")
JPEG_QUALITY = 85
# zlib level 3 encodes about twice as fast as Pillow's default 6 for a few percent more bytes: a worker is CPU-bound.
PNG_COMPRESS_LEVEL = 3
# A thumbnail first shrinks by an integer factor, cheaply, to no less than this multiple of its target: by DCT scaling
# while a JPEG decodes (1/2, 1/4, 1/8), by a box reduce for any other format; Lanczos does the rest. At this gap the box
# average is as good a prefilter as Lanczos (under 1 level RMS from a full-size Lanczos, tests/workers/test_ops.py),
# and Pillow's default of 2.0 would decode 3 MP JPEGs at 1/2 instead of 1/4 and reduce a PNG less.
SHRINK_GAP = 1.5
# The logo spans this share of the image width, never more than LOGO_MAX_HEIGHT of its height, LOGO_MARGIN from the corner.
LOGO_WIDTH = 0.25
LOGO_MAX_HEIGHT = 0.2
LOGO_MARGIN = 0.03
# Rows converted at a time where a whole-image intermediate would cost memory: a band of a 7071-wide RGBA image is 7 MB.
BAND_ROWS = 256

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
# Image.open reports phone JPEGs that carry a second picture (depth, preview) as MPO.
JPEG_FORMATS = ("JPEG", "MPO")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")
SIXTEEN_BIT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")
# ImageOps.exif_transpose's table; applied by us so a thumbnail is rotated after it is small, not before.
TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
EXIF_ORIENTATION = 0x0112
# What Pillow raises on a file that lies about itself; anything else is a bug of ours and must not pass for a bad image.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, Image.DecompressionBombError)
DATA_ENDS_EARLY = "corrupt image: data ends early"
# libjpeg's warnings for data that ends before the image does: "Premature end of JPEG file", "Corrupt JPEG data:
# premature end of data segment" (an end-of-image marker inside the pixel data). Pillow hides libjpeg's warnings and
# fills the missing rows with gray, so a 7000x7000 header over a few hundred bytes became a gray "done" output.
TRUNCATED_JPEG = "premature end"
# Warnings about bytes around the picture, not in it: the image decodes whole, as Pillow always decoded it.
HARMLESS_JPEG_WARNINGS = ("extraneous bytes", "unknown app", "jfif revision", "thumbnail image size")


class BadImage(Exception):
    """The input cannot become an output, for a reason a user can read; retrying will not help."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Output:
    data: bytes
    width: int
    height: int
    format: str  # "JPEG" or "PNG"

    @property
    def content_type(self) -> str:
        return f"image/{self.format.lower()}"


def grayscale(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    return apply("grayscale", data, max_pixels=max_pixels).data


def watermark(data: bytes, *, logo: str | Path = DEFAULT_LOGO, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    return apply("watermark", data, logo=logo, max_pixels=max_pixels).data


def thumbnail(data: bytes, *, size: int = DEFAULT_THUMBNAIL_SIZE, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    return apply("thumbnail", data, thumbnail_size=size, max_pixels=max_pixels).data


def apply(op: str, data: bytes, *, thumbnail_size: int = DEFAULT_THUMBNAIL_SIZE, logo: str | Path = DEFAULT_LOGO,
          max_pixels: int = DEFAULT_MAX_PIXELS) -> Output:
    """Run one operation; the output keeps the input's format family (JPEG stays JPEG, anything else becomes PNG)."""
    if op not in OPS:
        raise ValueError(f"unknown operation {op!r}, expected one of {OPS}")
    im = _open(data, max_pixels)
    source_format, source_mode, icc = im.format, im.mode, im.info.get("icc_profile")
    # Handed over, not kept here: grayscale frees the decoded source before its output is whole (see _grayscale).
    held = [im]
    del im
    try:
        if op == "grayscale":
            im = _grayscale(held, data)
        elif op == "thumbnail":
            im = _thumbnail(held.pop(), thumbnail_size, data)
        else:
            im = _watermark(held.pop(), str(logo), data)
    except DECODE_ERRORS as e:
        raise _corrupt(e) from e
    return _encode(im, source_format, icc if _family(im.mode) == _family(source_mode) else None)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Read the header only, so a bomb is refused before a single pixel is decoded."""
    if not data:
        raise BadImage("empty file (0 bytes)")
    try:
        im = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as e:
        raise BadImage(f"not a supported image (accepted: {', '.join(ACCEPTED_FORMATS)})") from e
    except Image.DecompressionBombError as e:
        raise BadImage(f"decompression bomb refused: {e}") from e
    except DECODE_ERRORS as e:
        raise _corrupt(e) if "truncated" in str(e).lower() else BadImage(f"corrupt image header: {e}") from e
    width, height = im.size
    if width < 1 or height < 1:
        raise BadImage(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise BadImage(f"decompression bomb refused: {width}x{height} = {width * height} pixels, cap is {max_pixels}")
    return im


def _grayscale(held: list[Image.Image], data: bytes) -> Image.Image:
    im = held.pop()
    if _is_ycc_jpeg(im):
        # libjpeg then emits the luma plane alone: no chroma upsampling, no colour conversion.
        return _orient(_jpeg(data, "GRAY"), _orientation(im))
    orientation = _decode(im, data)
    if im.mode == "RGBA":
        # Pillow keeps LA in four bytes a pixel, as RGBA: its gray and alpha planes (one byte each) are taken, and the
        # source freed, before they merge; converting directly held both full images (600 MB for 50 MP).
        gray, alpha = _banded(im, "L", lambda band: band.convert("L")), im.getchannel("A")
        del im
        return _orient(Image.merge("LA", (gray, alpha)), orientation)
    return _orient(_to_gray(im), orientation)


def _thumbnail(im: Image.Image, box: int, data: bytes) -> Image.Image:
    target = _fit(im.size, box)
    if _is_ycc_jpeg(im):
        # DCT scaling: libjpeg computes the reduced image directly, a 12 MP photo is never decoded at full size.
        orientation = _orientation(im)
        im = _jpeg(data, "GRAY" if im.mode == "L" else "RGB", (int(target[0] * SHRINK_GAP), int(target[1] * SHRINK_GAP)))
    else:
        if im.format in JPEG_FORMATS:  # CMYK: DCT scaling too, and the colour conversion at the reduced size
            im.draft(None, (int(target[0] * SHRINK_GAP), int(target[1] * SHRINK_GAP)))
        orientation = _decode(im, data)
    im = _reduce(_to_color(im), target)
    if im.size != target:
        im = im.resize(target, Image.Resampling.LANCZOS)
    return _orient(im, orientation)


def _reduce(im: Image.Image, target: tuple[int, int]) -> Image.Image:
    """What resize(reducing_gap=SHRINK_GAP) does first, band by band: the box reduce by an integer factor, to no less
    than SHRINK_GAP times the target. Pillow premultiplies alpha for the whole image before it reduces (a second full
    copy: 414 MB for a 50 MP RGBA PNG); a band at a time, the copy is a band's."""
    factor = (int(im.width / target[0] / SHRINK_GAP) or 1, int(im.height / target[1] / SHRINK_GAP) or 1)
    if factor == (1, 1):
        return im
    premultiplied = {"RGBA": "RGBa", "LA": "La"}.get(im.mode)
    if premultiplied is None:
        return im.reduce(factor)  # no copy of the source: banding would only add the crops
    reduced = Image.new(premultiplied, (-(-im.width // factor[0]), -(-im.height // factor[1])), None)
    rows = factor[1] * max(1, BAND_ROWS // factor[1])  # whole cells of the reduce in every band
    for top in range(0, im.height, rows):
        band = im.crop((0, top, im.width, min(im.height, top + rows)))
        reduced.paste(band.convert(premultiplied).reduce(factor), (0, top // factor[1]))
    return reduced.convert(im.mode)


def _banded(im: Image.Image, mode: str, convert) -> Image.Image:
    """convert(band) for bands of BAND_ROWS rows, into a new image of `mode` whose pages fill as the bands land: the
    whole-image intermediates of a chained conversion (CMYK → RGB → L) never exist at once."""
    out = Image.new(mode, im.size, None)
    for top in range(0, im.height, BAND_ROWS):
        box = (0, top, im.width, min(im.height, top + BAND_ROWS))
        out.paste(convert(im.crop(box)), box)
    return out


def _watermark(im: Image.Image, logo_path: str, data: bytes) -> Image.Image:
    if im.format in JPEG_FORMATS and im.mode in ("L", "RGB", "CMYK"):
        # One decode, libjpeg's, into Pillow's own four-byte layout (RGBX); it is also the check that the data is whole.
        orientation = _orientation(im)
        if im.mode == "CMYK":
            pixels = _jpeg_pixels(data, "CMYK")
            _cmyk_to_rgbx(pixels, im.tile[0].args[0])
        else:
            pixels = _jpeg_pixels(data, "GRAY" if im.mode == "L" else "RGBX")
        if orientation == 1:
            return _stamp_through(pixels, logo_path)
        im = _orient(_image_of(pixels), orientation)  # the rotation is a new, writable image
    else:
        orientation = _decode(im, data)
        im = _orient(_to_color(im), orientation)
    _stamp(im, _logo_box(im.size, logo_path))
    return im


def _cmyk_to_rgbx(pixels: numpy.ndarray, rawmode: str) -> None:
    """CMYK to RGB as Pillow converts it, band by band in the decode's own memory: both take four bytes a pixel, and
    a converted copy beside the source took a 50 MP watermark to 435 MiB. rawmode: Pillow's reading of the stored
    values (CMYK;I for Adobe's inverted ones)."""
    height, width, _ = pixels.shape
    for top in range(0, height, BAND_ROWS):
        band = pixels[top:top + BAND_ROWS]
        rgb = Image.frombuffer("CMYK", (width, band.shape[0]), band, "raw", rawmode, 0, 1).convert("RGB")
        band[...] = numpy.frombuffer(rgb.tobytes("raw", "RGBX"), numpy.uint8).reshape(band.shape)


def _logo_box(size: tuple[int, int], logo_path: str) -> tuple[Image.Image, tuple[int, int]]:
    """The logo at its size for this image, and the corner where it goes."""
    width, height = size
    logo = _scaled_logo(logo_path, width, height)
    margin = round(LOGO_MARGIN * min(width, height))
    return logo, (max(0, width - logo.width - margin), max(0, height - logo.height - margin))


def _stamp(im: Image.Image, placed: tuple[Image.Image, tuple[int, int]]) -> None:
    logo, corner = placed
    if im.mode == "RGBA":
        im.alpha_composite(logo, dest=corner)
    else:
        # An opaque base: a masked paste is the "over" operator and touches only the logo's box.
        im.paste(logo.convert(im.mode), corner, logo.getchannel("A"))


def _stamp_through(pixels: numpy.ndarray, logo_path: str) -> Image.Image:
    """The logo stamped on a decode Pillow sees read-only: its box is copied out, stamped, and written back through
    the array, which owns the memory; a writable copy of the whole image would cost its size again."""
    im = _image_of(pixels)
    logo, (left, top) = _logo_box(im.size, logo_path)
    box = (left, top, min(im.width, left + logo.width), min(im.height, top + logo.height))
    region = im.crop(box)
    _stamp(region, (logo, (0, 0)))
    rows, columns = slice(box[1], box[3]), slice(box[0], box[2])
    pixels[rows, columns] = numpy.asarray(region).reshape(pixels[rows, columns].shape)
    return im


def _decode(im: Image.Image, data: bytes) -> int:
    """Decode the pixels (once) and return the EXIF orientation, 1 when absent or invalid."""
    if im.format in JPEG_FORMATS:
        # Pillow's decode would not say if the data ends early: libjpeg's own decode at 1/8 scale (its entropy
        # decoding, which reads every byte, and little else) does. CMYK is the one model libjpeg keeps as stored.
        _jpeg(data, "CMYK" if im.mode == "CMYK" else "GRAY", min_size=(1, 1), min_factor=8)
    try:
        im.load()
    except DECODE_ERRORS as e:
        raise _corrupt(e) from e
    return _orientation(im)


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation, 1 when absent or invalid; read from the header, before or after the pixels."""
    try:
        orientation = im.getexif().get(EXIF_ORIENTATION, 1)
    except DECODE_ERRORS as e:
        raise _corrupt(e) from e
    return orientation if orientation in TRANSPOSE_FOR_ORIENTATION else 1


def _is_ycc_jpeg(im: Image.Image) -> bool:
    """A JPEG libjpeg turns into gray or RGB itself (all but CMYK and YCCK ones, which Pillow converts)."""
    return im.format in JPEG_FORMATS and im.mode in ("L", "RGB")


def _jpeg(data: bytes, colorspace: str, min_size: tuple[int, int] = (0, 0), min_factor: int = 1) -> Image.Image:
    return _image_of(_jpeg_pixels(data, colorspace, min_size, min_factor))


def _jpeg_pixels(data: bytes, colorspace: str, min_size: tuple[int, int] = (0, 0),
                 min_factor: int = 1) -> numpy.ndarray:
    """libjpeg-turbo's decode, strict: a warning that the data ends early fails the image, as Pillow's does not.

    min_size: the smallest the DCT-scaled image may be; min_factor: the least it is scaled down by."""
    arguments = {"min_width": min_size[0], "min_height": min_size[1], "min_factor": min_factor}
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace, strict=True, **arguments)
    except ValueError as e:
        warning = str(e)
        if TRUNCATED_JPEG in warning.lower():
            raise BadImage(DATA_ENDS_EARLY) from e
        if not any(harmless in warning.lower() for harmless in HARMLESS_JPEG_WARNINGS):
            raise BadImage(f"corrupt image: {warning}") from e
        pixels = simplejpeg.decode_jpeg(data, colorspace, strict=False, **arguments)
    return pixels


def _image_of(pixels: numpy.ndarray) -> Image.Image:
    """A decode as a Pillow image: gray and RGBX on the array's own memory (read-only to Pillow), RGB copied."""
    height, width, channels = pixels.shape
    if channels == 3:
        return Image.fromarray(pixels)
    mode = "L" if channels == 1 else "RGBX"
    return Image.frombuffer(mode, (width, height), pixels, "raw", mode, 0, 1)


def _corrupt(error: Exception) -> BadImage:
    if "truncated" in str(error).lower():  # Pillow: "image file is truncated", "Truncated File Read", ...
        return BadImage(DATA_ENDS_EARLY)
    return BadImage(f"corrupt image: {error}")


def _orient(im: Image.Image, orientation: int) -> Image.Image:
    method = TRANSPOSE_FOR_ORIENTATION.get(orientation)
    return im if method is None else im.transpose(method)


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ALPHA_MODES or "transparency" in im.info


def _to_gray(im: Image.Image) -> Image.Image:
    if im.mode in SIXTEEN_BIT_MODES:
        return _eight_bit(im)
    if _has_alpha(im):
        return im if im.mode == "LA" else im.convert("RGBA").convert("LA")
    if im.mode == "L":
        return im
    if im.mode in ("RGB", "1", "F"):
        return im.convert("L")
    # Pillow converts CMYK and palette images to L only by way of RGB: band by band, RGB is never whole.
    return _banded(im, "L", lambda band: band.convert("RGB").convert("L"))


def _to_color(im: Image.Image) -> Image.Image:
    """RGB or RGBA, except that a gray photo stays gray: every operation but grayscale keeps the colour model."""
    if im.mode in SIXTEEN_BIT_MODES:
        im = _eight_bit(im)
    if _has_alpha(im):
        return im if im.mode == "RGBA" else im.convert("RGBA")
    if im.mode in ("RGB", "L"):
        return im
    return im.convert("RGB")


def _eight_bit(im: Image.Image) -> Image.Image:
    # Pillow's own I;16 → L conversion clips at 255 instead of scaling, turning most 16-bit photos white. Band by band:
    # the scaled 16-bit copy is never whole.
    return _banded(im, "L", lambda band: band.point(lambda value: value / 256).convert("L"))


def _fit(size: tuple[int, int], box: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, box / width, box / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _family(mode: str) -> str:
    if mode in GRAY_MODES:
        return "gray"
    return "cmyk" if mode == "CMYK" else "rgb"


@lru_cache(maxsize=8)
def _logo(path: str) -> Image.Image:
    with Image.open(path) as logo:
        return logo.convert("RGBA")


@lru_cache(maxsize=64)
def _scaled_logo(path: str, width: int, height: int) -> Image.Image:
    """The logo at its size for this image; cached because a batch of photos shares a handful of sizes."""
    logo = _logo(path)
    scale = min(LOGO_WIDTH * width / logo.width, LOGO_MAX_HEIGHT * height / logo.height)
    size = (max(1, round(logo.width * scale)), max(1, round(logo.height * scale)))
    return logo.resize(size, Image.Resampling.LANCZOS)


def _encode(im: Image.Image, source_format: str | None, icc_profile: bytes | None) -> Output:
    out = io.BytesIO()
    # icc_profile is passed even when None: Pillow would otherwise copy the source's profile, wrong after a mode change.
    if source_format in JPEG_FORMATS and im.mode in ("L", "RGB", "RGBX"):
        im.save(out, "JPEG", quality=JPEG_QUALITY, icc_profile=icc_profile)
        fmt = "JPEG"
    else:
        im.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL, icc_profile=icc_profile)
        fmt = "PNG"
    return Output(out.getvalue(), im.width, im.height, fmt)
