"""Shared Streamlit helpers: page setup, cached loaders, model choice, charts, the training status.

Pages stay flat scripts that call these; all real logic lives in ``model/``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections.abc import Callable
from typing import TypeVar

import altair as alt
import pandas as pd
import streamlit as st

from model.data import Dataset, dataset_available, load_fashion_mnist, resolve_data_dir
from model.errors import FashionError
from model.io import load_model
from model.jobs import FOREGROUND, TrainingJob
from model.live_chart import BATCH_SERIES, SERIES_COLORS, curve_series, loss_axis_values, y_range
from model.metrics import Evaluation, evaluate
from model.network import MLP
from model.store import ModelStore, load_default
from model.train_view import curve_frames

DEFAULT_LABEL = "Shipped default"
LIVE_LABEL = "Live: the model training now"
WS_RE = re.compile(r"[0-9a-f]{32}")
F = TypeVar("F", bound=Callable)


def foreground(func: F) -> F:
    """Decorator for interactive regions (predictions): trainings pause between batches while they run.

    Put it under ``@st.fragment``. See ``model.jobs.Foreground`` for why and for the limits.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with FOREGROUND.busy():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# ----- page frame -------------------------------------------------------------------
# (file, title, icon, what it is for): the sidebar (app.py) and Home's links are built from this.
PAGES = [
    ("views/1_Train.py", "Train", ":material/model_training:", "Pick settings, start a run and watch the curves move."),
    ("views/2_Predict.py", "Predict", ":material/draw:", "Draw or upload clothing and see what the model thinks."),
    ("views/3_Metrics.py", "Metrics", ":material/analytics:", "Confusion matrix, per-class scores and mistakes."),
    ("views/4_Explore.py", "Explore", ":material/explore:", "The data, the learned weights and hidden features."),
]


def setup_page(title: str, intro: str, sidebar_status: bool = True) -> None:
    """Title, a two-sentence intro, and the sidebar's training status (pages without their own)."""
    st.set_page_config(page_title=f"{title} · Fashion Live", page_icon=":material/checkroom:", layout="wide")
    st.title(title)
    st.caption(intro)
    session_id()
    if sidebar_status:
        with st.sidebar:
            training_status()


def session_id() -> str:
    """This browser's private workspace: a random token kept in the page address (``ws``).

    Saved models go to a folder named by it, so nobody can list or overwrite another user's
    models, and the same link brings them back after a reload or a server restart.
    """
    if "sid" not in st.session_state:
        ws = str(st.query_params.get("ws", ""))
        st.session_state.sid = ws if WS_RE.fullmatch(ws) else uuid.uuid4().hex
    if st.query_params.get("ws") != st.session_state.sid:
        st.query_params["ws"] = st.session_state.sid
    return st.session_state.sid


def store() -> ModelStore:
    return ModelStore(owner=session_id())


# ----- data and models --------------------------------------------------------------
@st.cache_resource(show_spinner="Loading Fashion-MNIST…")
def _dataset(folder: str) -> Dataset:
    return load_fashion_mnist(folder, download=False)


def dataset() -> Dataset | None:
    """The dataset if it is on disk (never downloads by itself); None otherwise.

    When files are present but cannot be used, the reason is kept for ``data_problem()``.
    """
    try:
        ds = _dataset(str(resolve_data_dir()))
    except FashionError as e:
        st.session_state.data_problem = str(e) if dataset_available() else ""
        return None
    st.session_state.data_problem = ""
    return ds


def data_problem() -> str:
    """Why the dataset files on disk cannot be used; '' when they load or are simply not there."""
    return st.session_state.get("data_problem", "")


def require_dataset() -> Dataset:
    """The dataset, or an explanation of how to get it, then stop the page."""
    ds = dataset()
    if ds is not None:
        return ds
    folder = resolve_data_dir()
    problem = data_problem()
    if problem:
        st.warning(f"This page needs the Fashion-MNIST dataset, but the files in `{folder}` cannot be used. {problem}")
        st.info(
            "Delete or replace the file named above, then download the official files below, or set "
            "`FASHION_MNIST_DIR` to a folder with good copies before `streamlit run app.py`. Predict works without it."
        )
    else:
        st.info(
            f"This page needs the Fashion-MNIST dataset (about 30 MB), which is not in `{folder}` yet. "
            "Download it below, or point the app at a folder that holds the four official files by setting "
            "the `FASHION_MNIST_DIR` environment variable before `streamlit run app.py`. Predict works without it."
        )
    if st.button("Download Fashion-MNIST", help="Fetches the four official files and checks their MD5 sums."):
        bar = st.progress(0.0, text="Starting download…")
        try:
            load_fashion_mnist(
                folder, download=True, progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0), text=msg)
            )
            _dataset.clear()
            st.rerun()
        except FashionError as e:
            st.error(str(e))
    st.stop()


@st.cache_resource(show_spinner=False)
def _default_model() -> MLP:
    return load_default()


def fingerprint(net: MLP) -> str:
    return hashlib.md5(net.params.tobytes()).hexdigest()


@st.cache_resource(show_spinner="Evaluating on the 10,000 test images…", max_entries=8)
def _evaluate(_net: MLP, key: str, data_md5: str, _ds: Dataset) -> Evaluation:
    return evaluate(_net, _ds.x_test, _ds.y_test)


def evaluation(net: MLP, ds: Dataset) -> Evaluation:
    """Test-set evaluation, cached per set of weights."""
    return _evaluate(net, fingerprint(net), ds.md5, ds)


def session_models() -> dict[str, MLP]:
    """Models trained in this browser session, by label."""
    return st.session_state.setdefault("session_models", {})


def current_job() -> TrainingJob | None:
    return st.session_state.get("job")


def model_options() -> list[str]:
    options = [DEFAULT_LABEL] + [f"This session: {k}" for k in session_models()]
    options += [f"Saved: {n}" for n in store().names()]
    job = current_job()
    if job is not None and job.trainer is not None and job.alive:
        options.append(LIVE_LABEL)
    return options


@st.cache_resource(show_spinner=False, max_entries=16)
def _saved_model(path: str, name: str, version: int) -> MLP:
    """A saved model, read and checked once per version (mtime) of its file, not on every stroke."""
    return load_model(path, name=f"'{name}'")


def resolve_model(label: str) -> MLP | None:
    """The network behind a picker label (a fresh snapshot for the live model)."""
    try:
        if label == DEFAULT_LABEL:
            return _default_model()
        if label == LIVE_LABEL:
            job = current_job()
            return job.snapshot() if job is not None else None
        if label.startswith("This session: "):
            return session_models().get(label.removeprefix("This session: "))
        if label.startswith("Saved: "):
            name = label.removeprefix("Saved: ")
            path = store().path_for(name)
            if not path.exists():
                return store().load(name)  # raises the clear "no saved model" error
            return _saved_model(str(path), name, path.stat().st_mtime_ns)
    except FashionError as e:
        st.error(str(e))
    return None


def _picked(key: str) -> None:
    st.session_state.active_model = st.session_state[key]


def model_picker(key: str, live: bool = True) -> tuple[str, MLP | None]:
    """A select box of every model this user can use; the choice becomes the active model."""
    options = [o for o in model_options() if live or o != LIVE_LABEL]
    active = st.session_state.get("active_model", DEFAULT_LABEL)
    if active in options and st.session_state.get(key) != active:
        st.session_state[key] = active  # chosen elsewhere (an import, "Use this model"): the picker follows
    label = st.selectbox(
        "Model",
        options,
        key=key,
        on_change=_picked,
        args=(key,),
        help="Which network answers: the shipped default, one trained or saved by you, or the one training now.",
    )
    st.session_state.active_model = label
    return label, resolve_model(label)


def model_card(net: MLP) -> None:
    """Architecture, accuracy and provenance of a model, in a few lines."""
    meta = net.meta
    metrics = meta.get("metrics", {})
    cols = st.columns(3)
    cols[0].metric("Architecture", net.describe().split(" ")[0], help=", ".join(net.activations) + " hidden units")
    acc = metrics.get("test_accuracy")
    cols[1].metric("Test accuracy", f"{acc:.2%}" if isinstance(acc, (int, float)) else "n/a")
    f1 = metrics.get("macro_f1")
    cols[2].metric("Macro F1", f"{f1:.3f}" if isinstance(f1, (int, float)) else "n/a")
    details = [f"{net.n_params:,} parameters", f"inputs: {net.preprocessor.kind}"]
    if meta.get("created"):
        details.append(f"trained {meta['created']}")
    if meta.get("train_seconds"):
        details.append(f"in {meta['train_seconds']:.0f} s over {meta.get('epochs_trained', '?')} epochs")
    st.caption(" · ".join(details))
    if meta.get("command"):
        st.code(meta["command"], language="bash", wrap_lines=True)


# ----- charts -----------------------------------------------------------------------
def _series_color(frame: pd.DataFrame) -> alt.Color:
    names = [n for n in SERIES_COLORS if n in set(frame["series"])]
    scale = alt.Scale(domain=names, range=[SERIES_COLORS[n] for n in names])
    return alt.Color("series:N", title=None, scale=scale, legend=alt.Legend(orient="bottom", direction="horizontal"))


def learning_curves(history: dict, per_epoch: int | None = None) -> None:
    """Loss and accuracy side by side, interactive; the live view's lines, names and colours.

    ``per_epoch`` (training images per epoch) adds the smoothed per-batch loss to the loss chart.
    """
    loss_series, acc_series = curve_series(history, per_epoch)
    loss, acc = curve_frames((loss_series, acc_series))
    if loss.empty and acc.empty:
        st.caption("No finished epoch yet.")
        return
    x = alt.X("epoch:Q", title="epoch", axis=alt.Axis(format="d", tickMinStep=1))
    values = loss_axis_values(loss_series) if per_epoch else None
    y_scale = alt.Scale(domain=list(y_range(values, False))) if values else alt.Scale(zero=False)
    tooltip = ["series:N", alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".4f")]
    base = alt.Chart(loss).encode(x=x, y=alt.Y("value:Q", title="loss", scale=y_scale), color=_series_color(loss))
    loss_chart = alt.layer(
        base.transform_filter(alt.datum.series == BATCH_SERIES).mark_line(strokeWidth=1, clip=True),
        base.transform_filter(alt.datum.series != BATCH_SERIES).mark_line(point=True, clip=True),
    ).encode(tooltip=tooltip)
    left, right = st.columns(2)
    left.altair_chart(loss_chart.properties(title="Loss"), width="stretch", height=300)
    if acc.empty:  # stopped inside the first epoch: only the per-batch loss exists
        right.caption("Accuracy is measured at the end of each epoch; no epoch finished.")
        return
    # A layer too, though a single one: Vega lays out layered charts a little differently, and the
    # two plots should line up side by side.
    acc_chart = alt.layer(
        alt.Chart(acc)
        .mark_line(point=True)
        .encode(
            x=x,
            y=alt.Y("value:Q", title="accuracy", scale=alt.Scale(zero=False), axis=alt.Axis(format="%")),
            color=_series_color(acc),
            tooltip=["series:N", "epoch:Q", alt.Tooltip("value:Q", format=".2%")],
        )
    )
    right.altair_chart(acc_chart.properties(title="Accuracy"), width="stretch", height=300)


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
    if job.state == "queued":
        st.caption(f"Training queued: position {job.queue_position} (at most {job.slots.limit} run at once).")
    elif job.alive and p is not None:
        st.caption(f"Training: epoch {p.epoch}/{p.epochs}")
        st.progress(p.fraction)
    elif job.alive:
        st.caption("Training is starting…")
    else:
        st.caption(f"Training {job.state.replace('_', ' ')}.")
