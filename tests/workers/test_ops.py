"""workers/ops.py: every poison kind refused with a reason, every format and mode turned into the right output."""
import io
import random
import struct
import zlib

import pytest
import simplejpeg
from PIL import Image, ImageChops, ImageStat, JpegImagePlugin

from local import photos
from tests.workers.conftest import encode, gradient, open_bytes
from workers import ops
from workers.ops import BadImage


def png_header_only(width: int, height: int) -> bytes:
    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def truncated(fmt: str, **params) -> bytes:
    whole = encode(gradient((640, 480)), fmt, **params)
    return whole[: len(whole) // 2]


def ends_early(size=(640, 480), keep: int = 300, **params) -> bytes:
    """A JPEG whose pixel data stops `keep` bytes in, closed by an end-of-image marker: libjpeg fills the rest gray."""
    whole = encode(Image.effect_noise(size, 60).convert("RGB"), "JPEG", **params)
    scan = whole.index(b"\xff\xda")
    return whole[:scan + keep] + b"\xff\xd9"


def huge_header_few_bytes() -> bytes:
    """The issue's file: 7000x7000 declared, a few hundred bytes of data, then the end-of-image marker."""
    whole = encode(Image.new("RGB", (7000, 7000), (200, 80, 40)), "JPEG", quality=90)
    return whole[:whole.index(b"\xff\xda") + 400] + b"\xff\xd9"


POISON = [
    pytest.param(b"", "empty file", id="zero-bytes"),
    pytest.param(b"%PDF-1.7\n" + b"x" * 200, "not a supported image", id="pdf"),
    pytest.param(b"Quarterly report, renamed to .jpg\n" * 20, "not a supported image", id="text"),
    pytest.param(truncated("JPEG"), "corrupt image: data ends early", id="truncated-jpeg"),
    pytest.param(truncated("JPEG", progressive=True), "corrupt image: data ends early", id="truncated-progressive-jpeg"),
    pytest.param(ends_early(), "corrupt image: data ends early", id="jpeg-end-marker-inside-the-data"),
    pytest.param(ends_early(keep=40_000, progressive=True), "corrupt image: data ends early",
                 id="progressive-jpeg-end-marker-in-a-later-scan"),
    pytest.param(ends_early((640, 480), keep=300, subsampling=0, quality=95), "corrupt image: data ends early",
                 id="jpeg-444-end-marker-inside-the-data"),
    pytest.param(huge_header_few_bytes(), "corrupt image: data ends early", id="7000x7000-header-over-400-bytes"),
    pytest.param(ends_early(keep=300).replace(b"\xff\xd9", b"") + b"\x00" * 20_000, "corrupt image: data ends early",
                 id="jpeg-padded-with-zeros"),
    pytest.param(encode(gradient(mode="CMYK"), "JPEG")[:-3000] + b"\xff\xd9", "corrupt image: data ends early",
                 id="cmyk-jpeg-end-marker-inside-the-data"),
    pytest.param(truncated("PNG"), "corrupt image: data ends early", id="truncated-png"),
    pytest.param(truncated("GIF"), "corrupt image: data ends early", id="truncated-gif"),
    pytest.param(truncated("WEBP"), "corrupt image", id="truncated-webp"),
    pytest.param(truncated("TIFF"), "corrupt image", id="truncated-tiff"),
    pytest.param(png_header_only(100_000, 100_000), "decompression bomb", id="bomb-beyond-pillow-limit"),
    pytest.param(png_header_only(8_000, 8_000), "decompression bomb", id="bomb-beyond-our-cap"),
    pytest.param(photos.render("bomb", (0, 0), random.Random(0))[0], "decompression bomb", id="generated-bomb"),
]


@pytest.mark.parametrize("op", ops.OPS)
@pytest.mark.parametrize("data, reason", POISON)
def test_poison_input_is_refused_with_a_reason(op, data, reason):
    with pytest.raises(BadImage) as refused:
        ops.apply(op, data)
    assert reason in refused.value.reason


def test_bomb_is_refused_from_its_header_before_any_pixel_is_decoded(monkeypatch):
    def no_decode(self):
        raise AssertionError("decoded a bomb")
    monkeypatch.setattr(Image.Image, "load", no_decode)
    with pytest.raises(BadImage, match="64000000 pixels, cap is 50000000"):
        ops.apply("thumbnail", png_header_only(8_000, 8_000))


def test_pixel_cap_is_configurable():
    data = encode(gradient((400, 300)), "JPEG")
    with pytest.raises(BadImage, match="decompression bomb"):
        ops.apply("grayscale", data, max_pixels=100_000)
    assert ops.apply("grayscale", data, max_pixels=120_000).width == 400


def palette_with_transparency() -> Image.Image:
    im = gradient().quantize(16)
    im.info["transparency"] = 0
    return im


def sixteen_bit() -> Image.Image:
    return gradient(mode="L").convert("I").point(lambda v: v * 257).convert("I;16")


def la() -> Image.Image:
    im = gradient(mode="LA")
    im.putalpha(128)
    return im


def rgba() -> Image.Image:
    im = gradient(mode="RGBA")
    im.putalpha(Image.linear_gradient("L").resize(im.size))
    return im


# (source image, saved as) → (format, mode) of the output per operation; every source is 320x240.
FORMATS = [
    pytest.param(gradient, "JPEG", ("JPEG", "L"), ("JPEG", "RGB"), ("JPEG", "RGB"), id="jpeg-rgb"),
    pytest.param(lambda: gradient(mode="L"), "JPEG", ("JPEG", "L"), ("JPEG", "L"), ("JPEG", "L"), id="jpeg-gray"),
    pytest.param(lambda: gradient(mode="CMYK"), "JPEG", ("JPEG", "L"), ("JPEG", "RGB"), ("JPEG", "RGB"), id="jpeg-cmyk"),
    pytest.param(gradient, "PNG", ("PNG", "L"), ("PNG", "RGB"), ("PNG", "RGB"), id="png-rgb"),
    pytest.param(rgba, "PNG", ("PNG", "LA"), ("PNG", "RGBA"), ("PNG", "RGBA"), id="png-rgba"),
    pytest.param(la, "PNG", ("PNG", "LA"), ("PNG", "RGBA"), ("PNG", "RGBA"), id="png-la"),
    pytest.param(lambda: gradient().quantize(16), "PNG", ("PNG", "L"), ("PNG", "RGB"), ("PNG", "RGB"), id="png-palette"),
    pytest.param(palette_with_transparency, "PNG", ("PNG", "LA"), ("PNG", "RGBA"), ("PNG", "RGBA"),
                 id="png-palette-transparent"),
    pytest.param(sixteen_bit, "PNG", ("PNG", "L"), ("PNG", "L"), ("PNG", "L"), id="png-16bit"),
    pytest.param(gradient, "GIF", ("PNG", "L"), ("PNG", "RGB"), ("PNG", "RGB"), id="gif"),
    pytest.param(gradient, "WEBP", ("PNG", "L"), ("PNG", "RGB"), ("PNG", "RGB"), id="webp"),
    pytest.param(gradient, "BMP", ("PNG", "L"), ("PNG", "RGB"), ("PNG", "RGB"), id="bmp"),
    pytest.param(gradient, "TIFF", ("PNG", "L"), ("PNG", "RGB"), ("PNG", "RGB"), id="tiff"),
]


@pytest.mark.parametrize("make, fmt, gray, thumb, mark", FORMATS)
def test_every_format_and_mode_gives_the_expected_output(make, fmt, gray, thumb, mark):
    data = encode(make(), fmt)
    for op, want, size in (("grayscale", gray, (320, 240)), ("thumbnail", thumb, (256, 192)),
                           ("watermark", mark, (320, 240))):
        out = ops.apply(op, data)
        im = open_bytes(out.data)
        assert (op, im.format, im.mode, im.size) == (op, *want, size)
        assert (out.format, out.width, out.height) == (im.format, *im.size)


def test_sixteen_bit_gray_is_scaled_to_eight_bits_not_clipped():
    out = open_bytes(ops.grayscale(encode(sixteen_bit(), "PNG")))
    expected = gradient(mode="L")
    assert abs(sum(out.histogram()[i] * i for i in range(256)) / (320 * 240)
               - sum(expected.histogram()[i] * i for i in range(256)) / (320 * 240)) < 2


def test_alpha_survives_every_operation():
    data = encode(rgba(), "PNG")
    for op in ops.OPS:
        alpha = open_bytes(ops.apply(op, data).data).getchannel("A")
        assert alpha.getextrema()[0] < 10, op  # the transparent top stayed transparent


@pytest.mark.parametrize("orientation, top_is_white", [
    pytest.param(6, True, id="rotate-90-clockwise"),
    pytest.param(8, False, id="rotate-90-counter-clockwise"),
])
@pytest.mark.parametrize("op, size", [("grayscale", (200, 400)), ("watermark", (200, 400)), ("thumbnail", (128, 256))])
def test_exif_orientation_is_applied_and_not_carried_over(op, size, orientation, top_is_white):
    stored = Image.new("RGB", (400, 200), "black")
    stored.paste("white", (0, 0, 200, 200))  # the stored left half becomes the top after a clockwise turn
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = open_bytes(ops.apply(op, encode(stored, "JPEG", exif=exif.tobytes())).data)
    top = out.convert("L").getpixel((size[0] // 2, size[1] // 8))
    assert (out.size, top > 128, 0x0112 in out.getexif()) == (size, top_is_white, False)


def test_thumbnail_fits_the_box_and_keeps_the_aspect_ratio():
    for size, want in (((4000, 1000), (256, 64)), ((300, 900), (85, 256)), ((100, 50), (100, 50))):
        out = ops.apply("thumbnail", encode(gradient(size), "JPEG"))
        assert (out.width, out.height) == want


def test_thumbnail_size_is_configurable():
    out = ops.apply("thumbnail", encode(gradient((640, 480)), "JPEG"), thumbnail_size=64)
    assert (out.width, out.height) == (64, 48)


def record_decodes(monkeypatch) -> list:
    """(colour space, size) of every JPEG decode, Pillow's or libjpeg's own."""
    decoded = []
    load, decode_jpeg = JpegImagePlugin.JpegImageFile.load, simplejpeg.decode_jpeg

    def recording_load(self):
        decoding = bool(self.tile)  # load() again on a loaded image decodes nothing
        pixels = load(self)
        if decoding:
            decoded.append((self.mode, self.size))
        return pixels

    def recording_decode(data, colorspace, **options):
        pixels = decode_jpeg(data, colorspace, **options)
        decoded.append((colorspace, (pixels.shape[1], pixels.shape[0])))
        return pixels
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", recording_load)
    monkeypatch.setattr(simplejpeg, "decode_jpeg", recording_decode)
    return decoded


def test_thumbnail_of_a_12mp_jpeg_decodes_a_dct_scaled_image(monkeypatch):
    data = encode(gradient((4000, 3000)), "JPEG")
    decoded = record_decodes(monkeypatch)
    ops.apply("thumbnail", data)
    assert decoded == [("RGB", (500, 375))]  # one decode, which is also the check that the data is whole


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_thumbnail_shrink_shortcuts_stay_close_to_a_full_size_lanczos(kind):
    data, _ = photos.render(kind, photos.SIZES["3mp"], random.Random(3))
    full = Image.open(io.BytesIO(data)).convert("RGB")
    thumbnail = open_bytes(ops.apply("thumbnail", data).data).convert("RGB")
    reference = full.resize(thumbnail.size, Image.Resampling.LANCZOS)
    if kind == "jpeg":  # the reference pays the thumbnail's JPEG encode too, whose noise alone is about one level
        reference = open_bytes(encode(reference, "JPEG", quality=ops.JPEG_QUALITY)).convert("RGB")
    rms = ImageStat.Stat(ImageChops.difference(thumbnail, reference)).rms
    assert max(rms) < (1.5 if kind == "jpeg" else 1.0), rms


def test_grayscale_of_a_jpeg_decodes_the_luma_plane_only(monkeypatch):
    data = encode(gradient((640, 480)), "JPEG")
    decoded = record_decodes(monkeypatch)
    ops.apply("grayscale", data)
    assert decoded == [("GRAY", (640, 480))]


def test_a_jpeg_to_watermark_is_decoded_once_and_checked_whole_by_that_decode(monkeypatch):
    data = encode(gradient((640, 480)), "JPEG")
    decoded = record_decodes(monkeypatch)
    ops.apply("watermark", data)
    assert decoded == [("RGBX", (640, 480))]


def test_a_cmyk_jpeg_to_watermark_is_decoded_once_and_converted_as_pillow_converts_it(monkeypatch):
    data = encode(gradient((640, 480), mode="CMYK"), "JPEG")
    decoded = record_decodes(monkeypatch)
    out = ops.apply("watermark", data)
    assert decoded == [("CMYK", (640, 480))]
    im = Image.open(io.BytesIO(data)).convert("RGB")
    logo, corner = ops._logo_box(im.size, str(ops.DEFAULT_LOGO))
    im.paste(logo.convert("RGB"), corner, logo.getchannel("A"))
    assert out.data == encode(im, "JPEG", quality=ops.JPEG_QUALITY)


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_watermarked_jpeg_is_what_pillow_alone_made_of_it(orientation):
    """The one-decode path (stamped through the array, or rotated first) gives Pillow's own pixels, byte for byte."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(gradient((640, 480)), "JPEG", exif=exif.tobytes())
    im = Image.open(io.BytesIO(data))
    im = im.transpose(Image.Transpose.ROTATE_270) if orientation == 6 else im.convert("RGB")
    logo, corner = ops._logo_box(im.size, str(ops.DEFAULT_LOGO))
    im.paste(logo.convert("RGB"), corner, logo.getchannel("A"))
    assert ops.apply("watermark", data).data == encode(im, "JPEG", quality=ops.JPEG_QUALITY)


def test_a_jpeg_with_stray_bytes_before_its_end_marker_is_processed_as_before():
    """libjpeg warns about bytes outside the picture too; the picture is whole, so it is an image, not a failure."""
    whole = encode(gradient((320, 240)), "JPEG")
    stray = whole[:-2] + b"\x00\x11\x22" + whole[-2:]
    for op in ops.OPS:
        assert open_bytes(ops.apply(op, stray).data).size == ((256, 192) if op == "thumbnail" else (320, 240))


def test_watermark_changes_only_the_bottom_right_corner():
    source = gradient((400, 300))
    out = open_bytes(ops.watermark(encode(source, "PNG")))
    diff = [(x, y) for x in range(0, 400, 10) for y in range(0, 300, 10) if out.getpixel((x, y)) != source.getpixel((x, y))]
    assert diff and min(x for x, _ in diff) >= 400 * 0.7 and min(y for _, y in diff) >= 300 * 0.7


def test_watermark_logo_is_configurable(tmp_path):
    logo = tmp_path / "red.png"
    Image.new("RGBA", (40, 10), (255, 0, 0, 255)).save(logo)
    out = open_bytes(ops.watermark(encode(Image.new("RGB", (400, 300), "black"), "PNG"), logo=logo))
    # 25% of the width (100x25), a margin of 3% of the shorter side (9 px): the logo spans x 291..391, y 266..291.
    assert (out.getpixel((340, 278)), out.getpixel((340, 260))) == ((255, 0, 0), (0, 0, 0))


def test_colour_profile_is_kept_only_when_the_colour_model_is():
    profile = Image.open(io.BytesIO(encode(gradient(), "JPEG"))).info.get("icc_profile") or b"fake-rgb-profile"
    data = encode(gradient(), "JPEG", icc_profile=profile)
    assert open_bytes(ops.watermark(data)).info.get("icc_profile") == profile
    assert open_bytes(ops.grayscale(data)).info.get("icc_profile") is None


@pytest.mark.parametrize("op", ops.OPS)
def test_same_input_gives_identical_bytes(op):
    data, _ = photos.render("jpeg-exif-rotated", (640, 480), random.Random(1))
    assert ops.apply(op, data).data == ops.apply(op, data).data


@pytest.mark.parametrize("kind", sorted(set(photos.GOOD_KINDS)))
def test_every_generated_kind_is_processed_at_its_displayed_size(kind):
    data, (width, height) = photos.render(kind, photos.SIZES["small"], random.Random(7))
    assert (ops.apply("watermark", data).width, ops.apply("watermark", data).height) == (width, height)
