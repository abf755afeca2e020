"""Read the Predict page's answer (one ``st.html`` block, see ``ui.predict_view.answer_html``)."""

from __future__ import annotations

import base64
import io
import re
from html import unescape

import numpy as np
from PIL import Image

from ui.predict_view import ANSWER_LABEL


def answer_blocks(at) -> list[str]:
    """The HTML of every answer an AppTest run shows, in page order."""
    return [h.proto.body for h in at.get("html") if f'aria-label="{ANSWER_LABEL}"' in h.proto.body]


def stats(html: str) -> dict[str, str]:
    """The figures at the top of an answer: {"Prediction": "Trouser", "Probability": "97.1%"}."""
    return {unescape(k): unescape(v) for k, v in re.findall(r'data-stat="([^"]+)"[^>]*>([^<]*)<', html)}


def verdict_of(html: str) -> str | None:
    """The right/wrong line of a test-image answer, None when there is none."""
    m = re.search(r'data-verdict="[^"]+"[^>]*>([^<]*)<', html)
    return unescape(m.group(1)) if m else None


def captions(html: str) -> list[str]:
    return [unescape(c) for c in re.findall(r"<figcaption[^>]*>([^<]*)</figcaption>", html)]


def images(html: str) -> list[np.ndarray]:
    """The inlined pictures of an answer, decoded (input first, then the saliency overlay)."""
    out = []
    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html):
        out.append(np.asarray(Image.open(io.BytesIO(base64.b64decode(data)))))
    return out


def shown_figures(at) -> dict[str, list[str]]:
    """Every st.metric and every answer figure of a run, by label: {"Prediction": ["Trouser"], ...}."""
    out: dict[str, list[str]] = {}
    for m in at.metric:
        out.setdefault(m.label, []).append(m.value)
    for html in answer_blocks(at):
        for label, value in stats(html).items():
            out.setdefault(label, []).append(value)
    return out
