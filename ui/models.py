"""Data and models for the pages: cached loaders, the model picker, test-set evaluation, the model card."""

from __future__ import annotations

import hashlib

import streamlit as st

from model.datasets.fashion_mnist import Dataset, dataset_available, load_fashion_mnist, resolve_data_dir
from model.errors import FashionError
from model.model_file import load_model
from model.nn.network import MLP
from model.training.evaluation import Evaluation, evaluate
from ui import state
from ui.frame import current_job, store
from ui.store import load_default

DEFAULT_LABEL = "Shipped default"
LIVE_LABEL = "Live: the model training now"


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
        st.session_state[state.DATA_PROBLEM] = str(e) if dataset_available() else ""
        return None
    st.session_state[state.DATA_PROBLEM] = ""
    return ds


def data_problem() -> str:
    """Why the dataset files on disk cannot be used; '' when they load or are simply not there."""
    return st.session_state.get(state.DATA_PROBLEM, "")


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
    """md5 of a network's weights: the cache key of everything computed from them.

    Hashing a 5.7 MB network takes about 7 ms and Predict asks on every answer, so the digest is kept
    on the network, with a sample of its weights that shows whether they changed since.
    """
    sample = net.params[:: max(1, net.params.size // 4096)].tobytes()
    kept = getattr(net, "_fingerprint", None)
    if kept is not None and kept[0] == sample:
        return kept[1]
    digest = hashlib.md5(net.params.tobytes()).hexdigest()
    net._fingerprint = (sample, digest)
    return digest


@st.cache_resource(show_spinner="Evaluating on the 10,000 test images…", max_entries=8)
def _evaluate(_net: MLP, key: str, data_md5: str, _ds: Dataset) -> Evaluation:
    return evaluate(_net, _ds.x_test, _ds.y_test)


def evaluation(net: MLP, ds: Dataset) -> Evaluation:
    """Test-set evaluation, cached per set of weights."""
    return _evaluate(net, fingerprint(net), ds.md5, ds)


def session_models() -> dict[str, MLP]:
    """Models trained in this browser session, by label."""
    return st.session_state.setdefault(state.SESSION_MODELS, {})


def model_options() -> list[str]:
    options = [DEFAULT_LABEL] + [f"This session: {k}" for k in session_models()]
    options += [f"Saved: {n}" for n in store().names()]
    job = current_job()
    if job is not None and job.alive and job.snapshot() is not None:
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
    st.session_state[state.ACTIVE_MODEL] = st.session_state[key]


def model_picker(key: str, live: bool = True) -> tuple[str, MLP | None]:
    """A select box of every model this user can use; the choice becomes the active model."""
    options = [o for o in model_options() if live or o != LIVE_LABEL]
    active = st.session_state.get(state.ACTIVE_MODEL, DEFAULT_LABEL)
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
    st.session_state[state.ACTIVE_MODEL] = label
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
