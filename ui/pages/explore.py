"""Explore: the data itself, what the first layer learned, how hidden features separate classes, runs compared."""

import numpy as np
import pandas as pd
import streamlit as st

from model.datasets.fashion_mnist import Dataset
from model.nn.network import MLP
from ui import charts, frame, inside, models, state

PROJECTED = 2000  # test images in the hidden-feature projection
INTRO = (
    "The Fashion-MNIST images themselves, what the network's first layer has learned to look for, and how its hidden "
    "features pull the ten classes apart. At the bottom, your training runs side by side."
)


@st.cache_data(show_spinner="Projecting hidden features…", max_entries=16)
def projection(_net: MLP, fingerprint: str, layer: str, _ds: Dataset, data_md5: str) -> tuple:
    """(points (n, 2), explained variance (2,), labels (n,)) for a layer; keyed by model and data."""
    idx = charts.projection_sample(_ds.y_test, PROJECTED, seed=0)
    points, explained = charts.pca_projection(charts.layer_features(_net, _ds.x_test[idx], layer))
    return points, explained, np.asarray(_ds.y_test[idx])


@st.fragment  # its controls rerun only this region
def samples(ds: Dataset) -> None:
    """Random training images of each class beside the class balance."""
    st.header("The data", divider="gray")
    left, right = frame.wrapping_columns("samples_row", [3, 2], [420, 300])  # one above the other when narrow
    with left:
        seed = st.session_state.setdefault(state.EXPLORE_SEED, 0)
        if st.button("Show other examples", help="Draw a new random set of training images for each class."):
            seed = st.session_state[state.EXPLORE_SEED] = seed + 1
        fig = charts.sample_grid_figure(ds.x_train, charts.sample_indices(ds.y_train, per_class=8, seed=seed))
        st.pyplot(fig, alt="Eight random training images of each of the ten classes.")
        st.caption("Shirts, T-shirts, pullovers and coats look alike at 28x28 pixels: expect the model to mix them up.")
    with right:
        st.altair_chart(charts.class_counts_chart(charts.class_counts(ds.y_train, ds.y_test)), width="stretch")
        st.caption("Every class has the same number of images, so accuracy is not flattered by a majority class.")


def inside_a_model(ds: Dataset) -> None:
    """A model picker, then what the chosen model's first layer and hidden layers do."""
    st.header("Inside a model", divider="gray")
    _, net = models.model_picker(state.EXPLORE_MODEL, live=False)
    if net is None:
        st.warning("This model could not be loaded; choose another one.")
        return
    first_layer(net)
    hidden_space(net, ds)
    inside.model_panel(net, ds)  # gradient norms and dead units, measured now (an expander)


@st.fragment  # its controls rerun only this region
def first_layer(net: MLP) -> None:
    """First-layer weights (784, units) drawn as 28x28 tiles."""
    st.subheader("What the first layer looks for")
    W1 = net.W[0]
    cols = st.columns(2)
    top = min(64, W1.shape[1])
    n = cols[0].slider(
        "Units shown",
        min_value=min(8, top),
        max_value=top,
        value=min(32, top),
        step=8 if top >= 16 else 1,
        help="How many first-layer units to draw; each tile is one unit's 784 input weights as a 28x28 image.",
    )
    per_unit = cols[1].toggle(
        "Scale each unit separately",
        value=False,
        help="Off: one colour scale for all tiles, so strong and weak units compare. On: each tile uses its own range.",
    )
    st.pyplot(
        charts.weights_figure(W1, n_units=n, cols=8 if n <= 32 else 16, per_unit=per_unit),
        alt="First-layer weights drawn as images.",
    )
    st.caption(charts.weights_caption(net))


@st.fragment  # its controls rerun only this region
def hidden_space(net: MLP, ds: Dataset) -> None:
    """A 2-D PCA map of one layer's activations on test images, coloured by class."""
    st.subheader("How hidden features separate the classes")
    left, right = frame.wrapping_columns("projection_row", [3, 1], [420, 220])
    options = charts.layer_options(net)
    layer = right.radio(
        "Layer",
        options,
        index=len(options) - 1,
        help="Which activations to project; the raw pixels are there to compare against.",
    )
    right.caption(
        f"{PROJECTED:,} test images squeezed to 2-D by PCA. Tight, separate clouds mean the layer makes the classes "
        "easy to tell apart; switch to the input pixels to see what the network added."
    )
    points, explained, labels = projection(net, models.fingerprint(net), layer, ds, ds.md5)
    fig = charts.projection_figure(points, labels, explained)
    left.pyplot(fig, alt=f"2-D PCA projection of {PROJECTED} test images' {layer}, coloured by class.")


@st.fragment  # its controls rerun only this region
def compare_runs(ds: Dataset) -> None:
    """Learning curves and test scores of several models side by side."""
    st.header("Compare runs", divider="gray")
    options = [o for o in models.model_options() if o != models.LIVE_LABEL]
    default = [o for o in options if not o.startswith("Saved: ")][:4]
    chosen = st.multiselect(
        "Models",
        options,
        default=default,
        help="The shipped default, models trained in this session and the ones you saved; pick any to compare.",
    )
    nets = {label: net for label in chosen if (net := models.resolve_model(label)) is not None}
    if not nets:
        st.info("Pick one or more models to compare.")
        return
    curves = charts.curves_frame({label: net.meta.get("history") for label, net in nets.items()})
    if curves.empty:
        st.info("None of these models has a training history to draw.")
    else:
        st.altair_chart(charts.curves_chart(curves), width="stretch")
        st.caption("Solid lines are validation accuracy, dashed ones train accuracy: a widening gap is overfitting.")
    rows = pd.DataFrame([charts.run_summary(label, net, models.evaluation(net, ds)) for label, net in nets.items()])
    pct = {c: st.column_config.NumberColumn(c, format="percent") for c in ("test accuracy",)}
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            **pct,
            "macro F1": st.column_config.NumberColumn("macro F1", format=charts.SCORE_FORMAT),
            "train seconds": st.column_config.NumberColumn("train seconds", format="%.0f s"),
            "parameters": st.column_config.NumberColumn("parameters", format="localized"),
        },
    )
    st.caption("Test scores are measured now on the same 10,000 images, so the rows are directly comparable.")


frame.setup_page("Explore", INTRO)
ds = models.require_dataset()
samples(ds)
inside_a_model(ds)
compare_runs(ds)
