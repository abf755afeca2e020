"""Home: what the app is, the active model's card, and the way to the other pages."""

import streamlit as st

from model.errors import FashionError
from model.model_file import load_model, model_bytes
from model.nn.network import MLP
from ui import frame, models, state

TITLE = "Fashion Live"
INTRO = (
    "Watch a neural network, written from scratch in NumPy, learn to tell ten kinds of clothing apart "
    "on the real Fashion-MNIST dataset. Train one live, test it on your own drawings and photos, and dig into honest metrics."
)


def active_model() -> MLP | None:
    """The model picker and, when the chosen model loads, its card."""
    _, net = models.model_picker(state.HOME_MODEL, live=False)
    if net is not None:
        st.subheader("Active model")
        models.model_card(net)
    return net


def import_export(net: MLP | None) -> None:
    """Bring in a model file from elsewhere, or take the active one away."""
    left, right = st.columns(2)
    upload = left.file_uploader(
        "Import a model file (.npz)",
        type=["npz"],
        help="A model saved by this app or the CLI; it is checked, never executed.",
    )
    if upload is not None and st.session_state.get(state.IMPORTED) != upload.file_id:
        try:
            imported = load_model(upload.getvalue(), name=f"'{upload.name}'")
            label = f"imported {upload.name}"
            models.session_models()[label] = imported
            st.session_state[state.ACTIVE_MODEL] = f"This session: {label}"
            st.session_state[state.IMPORTED] = upload.file_id
            st.rerun()
        except FashionError as e:
            left.error(str(e))
    if net is not None:
        right.download_button(
            "Download the active model", model_bytes(net), file_name="fashion-model.npz", help="The .npz model file."
        )


def where_to_go() -> None:
    """One link per page, with what it is for."""
    st.subheader("Where to go")
    for col, (path, title, icon, purpose) in zip(st.columns(len(frame.PAGES)), frame.PAGES):
        col.page_link(path, label=title, icon=icon, help=purpose)


def data_note() -> None:
    """Says when the dataset is missing or broken (Predict works without it)."""
    ds = models.dataset()  # None when absent or broken; data_problem() tells which
    if ds is None and models.data_problem():
        st.warning(
            f"The Fashion-MNIST files cannot be used: {models.data_problem()} Predict still works with the shipped model."
        )
    elif ds is None:
        st.info(
            "The Fashion-MNIST dataset is not on this machine yet: Predict works with the shipped model, "
            "and Train, Metrics and Explore will show how to get the data."
        )


frame.setup_page(TITLE, INTRO)
net = active_model()
import_export(net)
where_to_go()
data_note()
