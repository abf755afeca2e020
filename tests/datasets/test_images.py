"""Tests for model/images.py: decoding uploads safely and Fashion-MNIST-style preprocessing."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from model.datasets.images import (
    MAX_UPLOAD_BYTES,
    canvas_to_model_input,
    is_blank,
    load_image,
    preprocess_upload,
    to_model_input,
    upscale_for_display,
)
from model.errors import ImageError

SPRITE = Path(__file__).resolve().parents[3] / "shared/data/heldout/fashion-mnist-sprite.png"
MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F"]


# ---------------------------------------------------------------- helpers
def garment(fg: int = 30, bg: int = 255, size: tuple[int, int] = (80, 120)) -> np.ndarray:
    """(H, W) uint8 'T-shirt': wide sleeves on top, narrower body, on a plain background.

    Content box is 60 wide x 90 tall, so after preprocessing it is 28 tall, ~19 wide,
    and its top rows (sleeves) are wider than its bottom rows (orientation marker).
    """
    w, h = size
    arr = np.full((h, w), bg, dtype=np.uint8)
    arr[15:35, 10:70] = fg  # sleeves
    arr[15:105, 25:55] = fg  # body
    return arr


def encode(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def content_box(arr: np.ndarray) -> tuple[int, int]:
    """(height, width) of the non-zero content of a 2-D array."""
    rows, cols = np.flatnonzero(arr.any(axis=1)), np.flatnonzero(arr.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def check_output(out: np.ndarray, blank: bool = False) -> None:
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert is_blank(out) == blank
    if not blank:
        assert max(content_box(out)) == 28
        assert out.max() == 255


def check_tshirt(out: np.ndarray) -> None:
    """Light T-shirt on black, upright, ~28 tall and ~19 wide, centred."""
    check_output(out)
    h, w = content_box(out)
    assert h == 28 and w in (18, 19, 20)  # 60 x 90 box keeps its aspect ratio
    assert out[:, :3].max() == 0 and out[:, -3:].max() == 0
    assert out[14, 14] > 200  # body is bright
    top, bottom = (out[2] > 64).sum(), (out[-3] > 64).sum()
    assert top > bottom  # sleeves on top


def png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (IHDR patched, CRC fixed)."""
    data = bytearray(encode(Image.new("1", (1, 1))))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def real_bomb_png(width: int, height: int) -> bytes:
    """A genuine, fully valid 1-bit black PNG of width x height (compresses to a few KB)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def make_mode(arr8: np.ndarray, mode: str) -> Image.Image:
    """Image of the given mode from a (H, W) uint8 grey array (16-bit modes use full range)."""
    base = Image.fromarray(arr8)
    if mode == "I;16":
        return Image.fromarray(arr8.astype(np.uint16) * 257)
    if mode == "I":
        return Image.fromarray(arr8.astype(np.int32) * 257)
    if mode == "F":
        return Image.fromarray(arr8.astype(np.float32) / 255.0)
    if mode == "1":
        return base.point(lambda v: 255 if v > 127 else 0).convert("1")
    return base.convert(mode)


# ---------------------------------------------------------------- modes
@pytest.mark.parametrize("mode", [*MODES, "PA", "YCbCr", "HSV", "LAB", "RGBX", "I;16B"])
@pytest.mark.parametrize("polarity", ["dark_on_white", "light_on_black"])
def test_every_mode_gives_light_garment_on_black(mode: str, polarity: str) -> None:
    arr = garment(30, 255) if polarity == "dark_on_white" else garment(230, 0)
    if mode in ("1",):
        arr = garment(0, 255) if polarity == "dark_on_white" else garment(255, 0)
    if mode == "I;16B":
        img = Image.frombytes("I;16B", (80, 120), (arr.astype(">u2") * 257).tobytes())
    elif mode == "LAB":
        img = Image.merge(
            "LAB",
            [
                Image.fromarray(arr),
                Image.new("L", (80, 120), 128),
                Image.new("L", (80, 120), 128),
            ],
        )
    else:
        img = make_mode(arr, mode)
    assert img.mode == mode
    check_tshirt(to_model_input(img))


@pytest.mark.parametrize(
    "mode",
    [
        "PNG-I;16",
        "TIFF-I;16",
        "PNG-1",
        "PNG-P",
        "BMP-RGB",
        "WEBP-RGB",
        "GIF-P",
        "TIFF-CMYK",
        "JPEG-CMYK",
        "TIFF-F",
    ],
)
def test_file_formats_round_trip(mode: str) -> None:
    fmt, m = mode.split("-")
    arr = garment(0, 255) if m == "1" else garment(30, 255)
    img = make_mode(arr, m)
    kw = {"lossless": True} if fmt == "WEBP" else {}
    out = preprocess_upload(encode(img, fmt, **kw), f"shirt.{fmt.lower()}")
    check_tshirt(out)


def test_sixteen_bit_is_scaled_not_clipped() -> None:
    arr = np.zeros((100, 100), dtype=np.uint16)
    arr[10:90, 10:50] = 20000  # two garment tones, both > 255
    arr[10:90, 50:90] = 40000
    for img in (Image.fromarray(arr), Image.fromarray(arr.astype(np.int32))):
        out = (
            preprocess_upload(encode(img, "TIFF"), "deep.tif")
            if img.mode == "I"
            else preprocess_upload(encode(img), "deep.png")
        )
        check_output(out)
        left, right = float(out[10:18, 4:12].mean()), float(out[10:18, 16:24].mean())
        assert right == pytest.approx(255, abs=3)
        assert left == pytest.approx(255 * 20000 / 40000, abs=8)  # clipping would make both 255


def test_float_image_outside_unit_range() -> None:
    arr = garment(30, 255).astype(np.float32) * 1000.0 - 7.0  # odd scale, negatives
    check_tshirt(to_model_input(Image.fromarray(arr)))


@pytest.mark.parametrize("shirt", [0, 40, 200, 255])
def test_transparent_cutout_becomes_light_garment(shirt: int) -> None:
    """A cut-out product shot (garment opaque, background transparent) of any colour."""
    mask = garment(255, 0)
    rgba = np.zeros((120, 80, 4), dtype=np.uint8)
    rgba[..., :3] = 255 - shirt  # transparent pixels have the *opposite* colour
    rgba[mask > 0, :3] = shirt
    rgba[..., 3] = mask
    check_tshirt(preprocess_upload(encode(Image.fromarray(rgba)), "cutout.png"))
    la = Image.fromarray(rgba).convert("LA")
    check_tshirt(to_model_input(la))


def test_palette_with_transparency() -> None:
    pal = Image.new("P", (80, 120), 0)
    pal.putpalette([255, 255, 255, 20, 20, 120] + [0] * 762)
    pal.paste(1, (0, 0, 80, 120), Image.fromarray(garment(255, 0)))
    data = encode(pal, "PNG", transparency=0)
    img = load_image(data, "pal.png")
    assert img.mode == "P" and "transparency" in img.info
    check_tshirt(to_model_input(img))
    check_tshirt(preprocess_upload(encode(pal, "GIF", transparency=0), "pal.gif"))


# ---------------------------------------------------------------- decoding
def test_exif_orientation_is_applied() -> None:
    upright = Image.fromarray(garment(30, 255)).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as the camera sensor saved it
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    data = encode(stored, "JPEG", exif=exif.tobytes(), quality=95)
    img = load_image(data, "phone.jpg")
    assert img.size == upright.size
    out = preprocess_upload(data, "phone.jpg")
    check_tshirt(out)
    expected = to_model_input(upright)
    assert np.corrcoef(out.ravel(), expected.ravel())[0, 1] > 0.95


def test_animated_gif_uses_first_frame() -> None:
    tall = Image.new("L", (60, 60), 0)
    tall.paste(255, (25, 5, 35, 55))  # vertical bar
    wide = Image.new("L", (60, 60), 0)
    wide.paste(255, (5, 25, 55, 35))  # horizontal bar
    data = encode(tall, "GIF", save_all=True, append_images=[wide], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    img = load_image(data, "anim.gif")
    assert getattr(img, "n_frames", 1) == 1
    h, w = content_box(preprocess_upload(data, "anim.gif"))
    assert h == 28 and w < 10


def test_animated_webp_uses_first_frame() -> None:
    tall = Image.new("RGB", (60, 60))
    tall.paste((255, 255, 255), (25, 5, 35, 55))
    wide = Image.new("RGB", (60, 60))
    wide.paste((255, 255, 255), (5, 25, 55, 35))
    data = encode(tall, "WEBP", save_all=True, append_images=[wide], lossless=True)
    h, w = content_box(preprocess_upload(data, "anim.webp"))
    assert h == 28 and w < 10


def test_load_image_accepts_file_objects() -> None:
    data = encode(Image.fromarray(garment()))
    stream = io.BytesIO(data)
    stream.read()  # already consumed once, as a re-run Streamlit script might
    assert load_image(stream, "s.png").size == (80, 120)
    check_tshirt(preprocess_upload(io.BytesIO(data), "s.png"))

    class Pipe:  # a non-seekable stream, e.g. a socket or pipe
        def __init__(self) -> None:
            self.buf = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self.buf.read(n)

    assert load_image(Pipe(), "pipe.png").size == (80, 120)  # type: ignore[arg-type]
    with pytest.raises(ImageError, match="could not be read"):
        load_image(io.StringIO("text"), "text.png")  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files(fmt: str) -> None:
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8))
    data = encode(noisy, fmt)
    with pytest.raises(ImageError, match=r"'cut\.img' is truncated or corrupt"):
        load_image(data[: len(data) // 2], "cut.img")
    with pytest.raises(ImageError, match="truncated or corrupt"):
        preprocess_upload(data[: len(data) * 9 // 10], "cut.img")


def test_empty_file() -> None:
    with pytest.raises(ImageError, match=r"'nothing\.png' is empty"):
        preprocess_upload(b"", "nothing.png")
    with pytest.raises(ImageError, match="is empty"):
        load_image(io.BytesIO(b""), "nothing.png")


def test_text_renamed_png() -> None:
    with pytest.raises(ImageError, match=r"'notes\.png' is not an image Pillow can read"):
        preprocess_upload(b"Shopping list:\n- socks\n- a coat\n", "notes.png")


def test_eps_is_not_handed_to_ghostscript() -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(ImageError, match="not an image"):
        preprocess_upload(eps, "evil.eps")


def test_file_too_large() -> None:
    with pytest.raises(ImageError, match="larger than 10 MB"):
        preprocess_upload(b"\0" * (MAX_UPLOAD_BYTES + 1), "huge.png")
    with pytest.raises(ImageError, match="larger than 10 MB"):
        load_image(io.BytesIO(b"\0" * (MAX_UPLOAD_BYTES + 1)), "huge.png")


@pytest.mark.parametrize(
    "data",
    [
        png_with_size(30000, 30000),  # Pillow's own bomb error territory (> 179 MP)
        png_with_size(12000, 10000),  # Pillow would only warn (89-179 MP)
        png_with_size(7000, 7000),  # below Pillow's limits, above ours (40 MP)
        real_bomb_png(30000, 30000),  # a genuine, valid 900 MP PNG of ~110 KB
    ],
    ids=["header-30000", "header-120MP", "header-49MP", "real-30000"],
)
def test_decompression_bomb_refused_before_decoding(data: bytes) -> None:
    assert len(data) < 200_000
    start = time.perf_counter()
    with pytest.raises(ImageError, match="pixels"):
        preprocess_upload(data, "bomb.png")
    assert time.perf_counter() - start < 1.0


def test_lazily_opened_images_fail_cleanly_in_to_model_input() -> None:
    lazy = Image.open(io.BytesIO(png_with_size(7000, 7000)))  # not decoded yet, 49 MP
    with pytest.raises(ImageError, match="megapixels"):
        to_model_input(lazy)
    data = encode(Image.fromarray(np.random.default_rng(2).integers(0, 256, (99, 99), np.uint8)))
    with pytest.raises(ImageError, match="truncated or corrupt"):
        to_model_input(Image.open(io.BytesIO(data[: len(data) // 2])))


# ---------------------------------------------------------------- preprocessing
@pytest.mark.parametrize(
    "img",
    [
        Image.new("RGB", (64, 48), "white"),
        Image.new("RGB", (64, 48), "black"),
        Image.new("L", (64, 48), 128),
        Image.new("RGBA", (64, 48), (200, 30, 30, 0)),  # fully transparent
        Image.new("LA", (64, 48), (255, 0)),
        Image.new("P", (64, 48), 0),
        Image.new("I;16", (64, 48), 40000),
        Image.new("F", (64, 48), 0.5),
        Image.new("L", (1, 1), 255),
        Image.new("RGBA", (1, 1), (0, 0, 0, 255)),
        Image.new("L", (0, 0)),
    ],
    ids=[
        "white",
        "black",
        "grey",
        "transparent",
        "la-transparent",
        "p",
        "i16",
        "f",
        "1x1",
        "1x1-rgba",
        "0x0",
    ],
)
def test_blank_images_give_zeros(img: Image.Image) -> None:
    out = to_model_input(img)
    check_output(out, blank=True)
    assert not out.any()


def test_blank_upload_round_trip() -> None:
    for colour in ("white", "black"):
        out = preprocess_upload(encode(Image.new("RGB", (50, 50), colour), "JPEG"), "x.jpg")
        check_output(out, blank=True)


def test_light_background_photo_is_inverted_jpeg_noise_tolerated() -> None:
    """Dark garment on an off-white background, lossy JPEG with mild sensor noise."""
    rng = np.random.default_rng(1)
    arr = garment(40, 235, size=(400, 600)).astype(np.float32)
    arr[:, :] = np.where(arr > 100, 235, 40)
    photo = Image.fromarray(np.clip(arr + rng.normal(0, 3, arr.shape), 0, 255).astype(np.uint8))
    photo = photo.resize((800, 1200)).convert("RGB")  # garment box 120 x 180 at 2x
    out = preprocess_upload(encode(photo, "JPEG", quality=70), "shop.jpg")
    check_output(out)
    h, w = content_box(out)
    assert h == 28 and w in (18, 19, 20)
    assert out[14, 14] > 200 and out[0, 0] == 0


def test_off_centre_small_garment_is_trimmed_enlarged_and_centred() -> None:
    arr = np.full((500, 500), 250, dtype=np.uint8)
    arr[400:460, 20:50] = 10  # 30 wide, 60 tall, bottom-left corner
    out = to_model_input(Image.fromarray(arr))
    check_output(out)
    assert content_box(out) == (28, 14)
    assert out[:, 7:21].min() > 200 and out[:, :7].max() == 0 and out[:, 21:].max() == 0


def test_extreme_aspect_ratios_keep_at_least_one_pixel() -> None:
    tall = np.zeros((5000, 3), dtype=np.uint8)
    tall[:, 1] = 255
    wide = np.zeros((3, 5000), dtype=np.uint8)
    wide[1, :] = 255
    assert content_box(to_model_input(Image.fromarray(tall))) == (28, 1)
    assert content_box(to_model_input(Image.fromarray(wide))) == (1, 28)
    for size in [(1, 5000), (5000, 1), (1, 1), (2, 2), (3, 3)]:
        rng = np.random.default_rng(sum(size))
        arr = rng.integers(0, 256, size[::-1], dtype=np.uint8)
        assert to_model_input(Image.fromarray(arr)).shape == (28, 28)


def test_large_photos_are_handled() -> None:
    arr = garment(30, 255, size=(80, 120))
    big = Image.fromarray(arr).resize((4000, 6000), Image.Resampling.NEAREST)
    check_tshirt(to_model_input(big))
    # Large cut-out: transparent *white* background must not bleed into the shrink.
    rgba = np.zeros((120, 80, 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = garment(255, 0)
    rgba[rgba[..., 3] > 0, :3] = 20
    cutout = Image.fromarray(rgba).resize((2000, 3000), Image.Resampling.NEAREST)
    check_tshirt(to_model_input(cutout))
    assert np.corrcoef(to_model_input(cutout).ravel(), to_model_input(big).ravel())[0, 1] > 0.98
    photo = encode(big.convert("RGB"), "JPEG", quality=85)
    start = time.perf_counter()
    check_tshirt(preprocess_upload(photo, "24mp.jpg"))
    assert time.perf_counter() - start < 5.0


def test_rejects_non_images() -> None:
    with pytest.raises(ImageError):
        to_model_input(np.zeros((28, 28)))  # type: ignore[arg-type]


# ---------------------------------------------------------------- canvas + display
def stroke_canvas(background_alpha: int) -> np.ndarray:
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)
    rgba[..., 3] = background_alpha
    rgba[40:240, 130:150] = (255, 255, 255, 255)  # vertical stroke, 200 tall, 20 wide
    rgba[40:60, 90:190] = (255, 255, 255, 255)  # crossbar on top
    rgba[38:40, 130:150] = (255, 255, 255, 128)  # anti-aliased edge
    return rgba


@pytest.mark.parametrize("background_alpha", [0, 255])
def test_canvas_with_stroke(background_alpha: int) -> None:
    out = canvas_to_model_input(stroke_canvas(background_alpha))
    check_output(out)
    assert content_box(out)[0] == 28
    assert out[14, 14] > 200 and out[14, 2] == 0


def test_canvas_transparent_white_background_and_variants() -> None:
    rgba = stroke_canvas(0)
    rgba[rgba[..., 3] == 0, :3] = 255  # transparent *white* background: still blank
    expected = canvas_to_model_input(stroke_canvas(255))
    assert np.array_equal(canvas_to_model_input(rgba), expected)
    opaque = stroke_canvas(255)
    opaque[..., 3] = 255  # RGB-only canvas: the half-transparent edge counts fully
    assert np.array_equal(canvas_to_model_input(opaque[..., :3]), canvas_to_model_input(opaque))
    inverted = stroke_canvas(255)
    inverted[..., :3] = 255 - inverted[..., :3]  # black ink on white paper
    assert np.corrcoef(canvas_to_model_input(inverted).ravel(), expected.ravel())[0, 1] > 0.95
    floats = stroke_canvas(255).astype(np.float32) / 255.0
    assert np.array_equal(canvas_to_model_input(floats), expected)


def test_blank_canvas() -> None:
    for rgba in (
        np.zeros((280, 280, 4), np.uint8),
        np.full((280, 280, 4), [0, 0, 0, 255], np.uint8),
    ):
        out = canvas_to_model_input(rgba)
        check_output(out, blank=True)
    assert is_blank(canvas_to_model_input(None))  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [np.zeros((28, 28, 2)), np.zeros((3,)), np.zeros((2, 2, 2, 4)), "abc"])
def test_canvas_bad_shape(bad: object) -> None:
    with pytest.raises(ImageError):
        canvas_to_model_input(bad)  # type: ignore[arg-type]


def test_upscale_for_display() -> None:
    arr = np.zeros((28, 28), dtype=np.uint8)
    arr[3, 5] = 200
    big = upscale_for_display(arr)
    assert big.shape == (224, 224) and big.dtype == np.uint8
    assert (big[24:32, 40:48] == 200).all() and big.sum() == 200 * 64
    assert upscale_for_display(arr, 1).shape == (28, 28)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ImageError):
            upscale_for_display(arr, bad)  # type: ignore[arg-type]
    with pytest.raises(ImageError):
        upscale_for_display(np.zeros((2, 2, 2)))


# ---------------------------------------------------------------- held-out faithfulness
def recentre(tile: np.ndarray) -> np.ndarray:
    """Move a tile's non-zero bounding box to the centre of a 28x28 canvas, no resizing."""
    rows, cols = np.flatnonzero(tile.any(axis=1)), np.flatnonzero(tile.any(axis=0))
    crop = tile[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    out = np.zeros_like(tile)
    h, w = crop.shape
    out[(28 - h) // 2 : (28 - h) // 2 + h, (28 - w) // 2 : (28 - w) // 2 + w] = crop
    return out


def test_pipeline_is_faithful_on_heldout_fashion_mnist() -> None:
    """Real Fashion-MNIST tiles, uploaded as PNG (both polarities), come back as themselves."""
    if not SPRITE.is_file():
        pytest.skip(f"held-out sprite not found at {SPRITE}")
    sprite = np.asarray(Image.open(SPRITE).convert("L"))
    tiles = sprite.reshape(30, 28, 30, 28).transpose(0, 2, 1, 3).reshape(900, 28, 28)
    outputs = {}
    for inverted in (False, True):
        outs = []
        for tile in tiles:
            src = 255 - tile if inverted else tile  # dark garment on white, as in a photo
            out = preprocess_upload(encode(Image.fromarray(src)), "tile.png")
            assert out.shape == (28, 28) and out.dtype == np.uint8 and not is_blank(out)
            outs.append(out)
        outputs[inverted] = np.stack(outs)
        corrs = np.array([np.corrcoef(recentre(t).ravel(), o.ravel())[0, 1] for t, o in zip(tiles, outs, strict=True)])
        per_class = corrs.reshape(10, 90).mean(axis=1)
        # Measured: mean 0.984, median 1.000, every class >= 0.97, 5th percentile 0.87.
        # (Against the raw, un-recentred tile it is 0.88: the dataset's own faint 1-8 level
        # specks make its bounding boxes off-centre; a tile vs itself re-centred is 0.885.)
        assert corrs.mean() > 0.95, corrs.mean()
        assert per_class.min() > 0.9, per_class
        assert np.percentile(corrs, 5) > 0.8
    assert np.array_equal(outputs[False], outputs[True])  # polarity makes no difference


# ---------------------------------------------------------------- properties
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from(
        [
            b"",
            b"\x89PNG\r\n\x1a\n",
            b"\xff\xd8\xff\xe0",
            b"GIF89a",
            b"BM",
            b"RIFF\0\0\0\0WEBP",
            b"II*\0",
        ]
    ),
    body=st.binary(max_size=2048),
)
def test_random_bytes_only_raise_image_error(prefix: bytes, body: bytes) -> None:
    try:
        out = preprocess_upload(prefix + body, "random.bin")
    except ImageError as exc:
        assert "random.bin" in str(exc)
    else:
        assert out.shape == (28, 28) and out.dtype == np.uint8


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    cut=st.floats(0.05, 0.99),
    fmt=st.sampled_from(["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"]),
)
def test_damaged_real_files_only_raise_image_error(data: st.DataObject, cut: float, fmt: str) -> None:
    raw = bytearray(encode(Image.fromarray(garment()).convert("RGB" if fmt == "JPEG" else "L"), fmt))
    for _ in range(data.draw(st.integers(0, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        out = preprocess_upload(bytes(raw[: max(1, int(len(raw) * cut))]), "damaged")
    except ImageError:
        return
    assert out.shape == (28, 28) and out.dtype == np.uint8


@settings(max_examples=150, deadline=None)
@given(
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    mode=st.sampled_from([*MODES, "PA"]),
    kind=st.sampled_from(["noise", "shape", "flat"]),
    seed=st.integers(0, 2**32 - 1),
)
@example(width=1, height=285, mode="RGBA", kind="noise", seed=4_294_967_295)
def test_arbitrary_small_images_give_28x28_uint8(width: int, height: int, mode: str, kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    if kind == "noise":
        arr = rng.integers(0, 256, (height, width), dtype=np.uint8)
    else:
        arr = np.full((height, width), rng.integers(0, 256), dtype=np.uint8)
        if kind == "shape":
            y0, x0 = rng.integers(0, height), rng.integers(0, width)
            arr[
                y0 : y0 + rng.integers(1, height + 1),
                x0 : x0 + rng.integers(1, width + 1),
            ] = rng.integers(0, 256)
    img = make_mode(arr, mode)
    if mode in ("RGBA", "LA", "PA") and rng.random() < 0.7:
        alpha = Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8) if kind == "noise" else arr)
        img.putalpha(alpha)
    out = to_model_input(img)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    # Noise can leave an edge row of the shrunk image near black (width=1, height=285 did): 27 then.
    assert is_blank(out) or max(content_box(out)) >= (27 if kind == "noise" else 28)
    assert upscale_for_display(out, 4).shape == (112, 112)
