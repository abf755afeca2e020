"""The page frame: the pages and their order, page set-up, the private workspace, the sidebar status.

``app.py`` builds ``st.navigation`` from ``PAGES``; every page script starts with ``setup_page``.
"""

from __future__ import annotations

import functools
import re
import uuid

import streamlit as st
from PIL import Image, ImageDraw
from threadpoolctl import threadpool_limits

from ui import state
from ui.jobs import TrainingJob
from ui.store import ModelStore
from ui.train_view import epoch_counter

WS_RE = re.compile(r"[0-9a-f]{32}")

HOME = "ui/pages/home.py"
# (file, title, icon, what it is for): the sidebar (app.py) and Home's links are built from this.
# The icons are Material names, drawn from the font Streamlit serves itself; they are used on
# Home's links only: as ``st.Page`` icons Streamlit would also fetch each as the browser tab's icon
# from fonts.gstatic.com, which fails offline (see ``app_icon``).
PAGES = [
    (
        "ui/pages/train.py",
        "Train",
        ":material/model_training:",
        "Pick settings, start a run and watch the curves move.",
    ),
    ("ui/pages/predict.py", "Predict", ":material/draw:", "Draw or upload clothing and see what the model thinks."),
    ("ui/pages/metrics.py", "Metrics", ":material/analytics:", "Confusion matrix, per-class scores and mistakes."),
    ("ui/pages/explore.py", "Explore", ":material/explore:", "The data, the learned weights and hidden features."),
]
# A T-shirt outline on a 240-px grid (sleeves, neck cut-out): the browser tab's icon.
SHIRT = [(70, 30), (100, 30), (120, 45), (140, 30), (170, 30), (225, 75), (200, 110), (180, 95),
         (180, 215), (60, 215), (60, 95), (40, 110), (15, 75)]  # fmt: skip


# Streamlit cuts long button and checkbox labels with an ellipsis ("Restore…", "Best recipe (the s…"):
# in narrow columns they wrap instead, so every label is read whole.
APP_CSS = (
    "<style>[data-testid='stMain'] .stMarkdownEllipsis, [data-testid='stMain'] .stMarkdownEllipsis p "
    "{white-space: normal; text-overflow: clip}</style>"
)


@functools.cache
def app_icon() -> Image.Image:
    """The browser tab's icon: a light T-shirt on black, like a Fashion-MNIST image (64x64 RGB).

    Drawn here and served by the app itself: a Material or emoji icon name would make Streamlit
    fetch the picture from a font server (Material) or rely on the browser's emoji font.
    """
    img = Image.new("RGB", (64, 64), (14, 17, 23))
    ImageDraw.Draw(img).polygon([(x * 64 / 240, y * 64 / 240) for x, y in SHIRT], fill=(235, 235, 235))
    return img


@functools.cache
def use_one_blas_thread() -> None:
    """The web server answers one image at a time: one BLAS thread each, no threads handing off.

    A prediction's matmuls are a single row against the weights; split over two BLAS threads on a
    machine kept busy by browsers and training workers, each one waited for the other. Once per
    process (app.py runs on every rerun; threadpoolctl scans the loaded libraries each call).
    """
    threadpool_limits(limits=1, user_api="blas")


def setup_page(title: str, intro: str, sidebar_status: bool = True) -> None:
    """Title, a two-sentence intro, and the sidebar's training status (pages without their own)."""
    st.set_page_config(page_title=f"{title} · Fashion Live", page_icon=app_icon(), layout="wide")
    st.html(APP_CSS)  # style only: Streamlit adds it without taking room on the page
    st.title(title)
    st.caption(intro)
    session_id()
    if sidebar_status:
        with st.sidebar:
            training_status()


def wrapping_columns(key: str, spec: list[float], min_px: list[int], gap: str = "large") -> list:
    """``st.columns(spec)`` that move onto rows of their own instead of shrinking below ``min_px``.

    Streamlit squeezes columns side by side down to a 640-px window; a fixed-size canvas or a
    matrix of numbers is then cut off or unreadable. Column i grows by spec[i] from min_px[i] (or
    the whole width, when narrower).
    """
    block = f".st-key-{key} [data-testid='stHorizontalBlock']"
    rules = [f"{block} {{flex-wrap: wrap}}"]
    for i, (grow, px) in enumerate(zip(spec, min_px, strict=True), start=1):
        rules.append(
            f"{block} > [data-testid='stColumn']:nth-child({i}) "
            f"{{flex: {grow} 1 min({px}px, 100%) !important; min-width: min({px}px, 100%) !important}}"
        )
    st.html("<style>" + "".join(rules) + "</style>")
    return st.container(key=key).columns(spec, gap=gap)


def session_id() -> str:
    """This browser's private workspace: a random token kept in the page address (``ws``).

    Saved models go to a folder named by it, so nobody can list or overwrite another user's
    models, and the same link brings them back after a reload or a server restart.
    """
    if state.WORKSPACE not in st.session_state:
        ws = str(st.query_params.get("ws", ""))
        st.session_state[state.WORKSPACE] = ws if WS_RE.fullmatch(ws) else uuid.uuid4().hex
    if st.query_params.get("ws") != st.session_state[state.WORKSPACE]:
        st.query_params["ws"] = st.session_state[state.WORKSPACE]
    return st.session_state[state.WORKSPACE]


def store() -> ModelStore:
    """This browser's saved models."""
    return ModelStore(owner=session_id())


def current_job() -> TrainingJob | None:
    """This session's training, if it started one."""
    return st.session_state.get(state.JOB)


# ----- training status in the sidebar -------------------------------------------------
def training_status() -> None:
    """Shows this session's training on every page and keeps it alive (heartbeat) while it runs.

    The timer only exists while a run is alive: a timer rerun on every page would also make
    Streamlit drop the clean-up of other fragments (stale predictions under the canvas).
    """
    job = current_job()
    if job is not None and job.alive:
        _live_status()


@st.fragment(run_every=2.0)
def _live_status() -> None:
    job = current_job()
    if job is None:
        return
    job.heartbeat()
    p = job.progress
    if not job.alive:
        st.rerun()  # the run ended: redraw the page once without this timer
    place = job.queue_position
    if place:
        st.caption(f"Training queued: position {place} (at most {job.slot_limit} run at once).")
    elif p is not None:
        st.caption(f"Training: {epoch_counter(p)}")
        st.progress(p.fraction)
    else:
        st.caption("Training is starting…")
