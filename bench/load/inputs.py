"""What the simulated users draw and upload: garment strokes on the canvas, garment pictures.

Every input is new (random shape, place, colours and format, from the session's seeded generator),
so each one makes the app compute a new prediction.
"""

from __future__ import annotations

import io
import random

# The canvas toolbar (undo, bin...) floats over the canvas's top-right corner until the mouse hovers
# the canvas: a stroke starting there would press the toolbar instead. Strokes stay below this line.
TOP = 0.16
SHAPES = {  # row-wise (left, right) of a garment silhouette, y from 0 (top) to 1
    "tshirt": lambda y: (0.0, 1.0) if y < 0.3 else (0.25, 0.75),
    "pullover": lambda y: (0.0, 1.0) if y < 0.85 else (0.2, 0.8),
    "dress": lambda y: (0.4 - 0.4 * y, 0.6 + 0.4 * y),
    "bag": lambda y: (0.35, 0.65) if y < 0.2 else (0.0, 1.0),
    "boot": lambda y: (0.1, 0.45) if y < 0.6 else (0.1, 1.0),
    "sneaker": lambda y: (0.05, 0.5 + 0.5 * y),
    "trouser": lambda y: (0.2, 0.8),
}


def garment_stroke(rng: random.Random) -> tuple[str, list[tuple[float, float]], list[float]]:
    """One zig-zag stroke that fills a random garment silhouette in a random box of the canvas.

    Returns (shape, points as canvas fractions, the box [x0, y0, x1, y1]); the box leaves a margin
    on at least two sides, so later strokes can grow the drawing."""
    shape = rng.choice(list(SHAPES))
    w, h = rng.uniform(0.45, 0.75), rng.uniform(0.45, 0.75)
    x0, y0 = rng.uniform(0.06, 0.94 - w), rng.uniform(TOP, 0.94 - h)
    dy = rng.uniform(0.07, 0.11)
    pts, y, flip = [], 0.0, rng.random() < 0.5
    while y <= 1.0001:
        left, right = SHAPES[shape](y)
        jl, jr = rng.uniform(-0.04, 0.04), rng.uniform(-0.04, 0.04)
        row = [(x0 + w * min(max(left + jl, 0), 1), y0 + h * y), (x0 + w * min(max(right + jr, 0), 1), y0 + h * y)]
        pts += row[::-1] if flip else row
        y += dy
        flip = not flip
    return shape, pts, [x0, y0, x0 + w, y0 + h]


def growing_stroke(rng: random.Random, box: list[float]) -> list[tuple[float, float]] | None:
    """A line just outside the drawing's box (so the 28x28 input must change), or None if no room.

    Widens `box` in place to take the new line in.
    """
    x0, y0, x1, y1 = box
    gap = 0.07
    sides = [s for s, ok in (("top", y0 - gap >= TOP), ("bottom", y1 + gap <= 0.96),
                              ("left", x0 - gap >= 0.04), ("right", x1 + gap <= 0.96)) if ok]  # fmt: skip
    if not sides:
        return None
    side = rng.choice(sides)
    if side in ("top", "bottom"):
        y = y0 - gap if side == "top" else y1 + gap
        a, b = sorted(rng.uniform(x0, x1) for _ in range(2))
        b = max(b, a + 0.15)
        pts = [(a, y), ((a + b) / 2, y + rng.uniform(-0.02, 0.02)), (b, y)]
        box[1 if side == "top" else 3] = y
    else:
        x = x0 - gap if side == "left" else x1 + gap
        a, b = sorted(rng.uniform(y0, y1) for _ in range(2))
        b = max(b, a + 0.15)
        pts = [(x, a), (x + rng.uniform(-0.02, 0.02), (a + b) / 2), (x, b)]
        box[0 if side == "left" else 2] = x
    return pts


def upload_image(rng: random.Random, n: int, session: str) -> dict:
    """A varied garment picture made with Pillow: shape, size, colours, noise, PNG (L/RGB/RGBA) or JPEG."""
    from PIL import Image, ImageDraw, ImageFilter

    w, h = rng.randint(96, 900), rng.randint(96, 900)
    dark_bg = rng.random() < 0.5
    bg = tuple(rng.randint(0, 50) if dark_bg else rng.randint(200, 255) for _ in range(3))
    fg = tuple(rng.randint(170, 255) if dark_bg else rng.randint(0, 90) for _ in range(3))
    transparent = rng.random() < 0.2
    img = Image.new("RGBA", (w, h), (*bg, 0 if transparent else 255))
    d = ImageDraw.Draw(img)
    s = min(w, h) * rng.uniform(0.55, 0.9)
    cx, cy = w / 2 + rng.uniform(-0.1, 0.1) * w, h / 2 + rng.uniform(-0.1, 0.1) * h
    shape = rng.choice(["tshirt", "trouser", "bag", "dress", "sneaker", "blob"])
    unit = {
        "tshirt": [(0.3, 0), (0.42, 0), (0.5, 0.08), (0.58, 0), (0.7, 0), (1, 0.3), (0.88, 0.45), (0.78, 0.38),
                   (0.78, 1), (0.22, 1), (0.22, 0.38), (0.12, 0.45), (0, 0.3)],
        "trouser": [(0.25, 0), (0.75, 0), (0.8, 1), (0.56, 1), (0.5, 0.3), (0.44, 1), (0.2, 1)],
        "bag": [(0.05, 0.3), (0.95, 0.3), (0.9, 1), (0.1, 1)],
        "dress": [(0.38, 0), (0.62, 0), (0.66, 0.3), (0.95, 1), (0.05, 1), (0.34, 0.3)],
        "sneaker": [(0, 0.55), (0.35, 0.4), (0.55, 0.55), (1, 0.7), (1, 0.9), (0, 0.9)],
    }.get(shape)  # fmt: skip
    fill = (*fg, 255)
    if unit is None:
        d.ellipse([cx - s / 2, cy - s / 3, cx + s / 2, cy + s / 3], fill=fill)
    else:
        d.polygon([(cx + (x - 0.5) * s, cy + (y - 0.5) * s) for x, y in unit], fill=fill)
        if shape == "bag":
            d.arc([cx - s / 4, cy - s / 2, cx + s / 4, cy - s / 12], 180, 360, fill=fill, width=max(2, int(s / 25)))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    fmt = "JPEG" if rng.random() < 0.5 else "PNG"
    buf = io.BytesIO()
    if fmt == "JPEG":
        flat = Image.new("RGB", img.size, bg)
        flat.paste(img, mask=img.getchannel("A"))
        flat.save(buf, "JPEG", quality=rng.randint(60, 95))
        mime, ext = "image/jpeg", "jpg"
    else:
        mode = "RGBA" if transparent else rng.choice(["RGB", "L"])
        (img if mode == "RGBA" else img.convert(mode)).save(buf, "PNG")
        mime, ext = "image/png", "png"
    return {"name": f"{session}-{n:03d}-{shape}.{ext}", "mimeType": mime, "buffer": buf.getvalue()}
