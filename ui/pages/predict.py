"""Predict: draw, upload or pick a test image; see the probabilities and a saliency map."""

import numpy as np
import streamlit as st

from model.datasets.fashion_mnist import CLASS_NAMES
from model.datasets.images import MAX_UPLOAD_BYTES, canvas_to_model_input, is_blank
from model.errors import ImageError, PredictionError
from model.nn.network import MLP
from ui import frame, inside, models, state
from ui.predict_view import (
    NO_GHOST,
    answer_html,
    fill_advice,
    ghosts,
    pick_test_index,
    predict_image,
    read_upload,
)

try:  # the canvas only imports inside a Streamlit server; elsewhere the Draw tab explains instead
    from streamlit_drawable_canvas import st_canvas
except Exception as exc:  # noqa: BLE001 - any failure just means "no canvas here"
    st_canvas, CANVAS_PROBLEM = None, f"{type(exc).__name__}: {exc}"

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp"]
ANY_CLASS = "Any class"
TEST_SEED = 2017  # the year Fashion-MNIST came out: the same sequence of test images every session
LIVE_EVERY = 2  # seconds between the live model's fresh answers
CANVAS = 280  # px, the drawing canvas's side
GHOST_NONE = "None"
FILL_HELP = (
    "Before the network reads your drawing, every area your strokes close in all round is painted white, so a "
    "closed outline becomes the silhouette it encloses (a bag's handle hole too). An outline with a gap, or one "
    "that runs off the canvas, stays an outline. The canvas itself shows your strokes as drawn. Use it with models "
    "trained without drawings, which read outlines poorly: filled in, more of them are read right. Leave it off for "
    "a model trained with drawings (the shipped one): it reads outlines better as they are drawn."
)
DRAW_CAPTION = (
    "Undo, redo and clear (the bin) are in the toolbar above the canvas. Draw one big garment, as an outline or "
    "filled in; it is cropped and centred like the dataset's images, so where you draw it does not matter. A model "
    "trained with drawings (the shipped one was) reads both; others read filled-in shapes much better than "
    "outlines, so turn on *Fill in closed outlines* for them. A ghost is only a guide to trace: the network sees "
    "your strokes alone."
)
INTRO = (
    "Draw a piece of clothing, upload a photo or pick a test image, and see what the network thinks it is: all ten "
    "class probabilities, plus a saliency map of the pixels that drove its answer. Choose the model that is "
    "training right now to watch its guess on your drawing sharpen as it learns."
)


def pick_model() -> tuple[str, MLP | None]:
    """The model picker; stops the page when the chosen model cannot be loaded."""
    with st.columns([1, 2])[0]:
        label, net = models.model_picker(state.PREDICT_MODEL)
    if net is None and label != models.LIVE_LABEL:
        st.warning("This model could not be loaded; pick another one above.")
        st.stop()
    return label, net


def show_prediction(net: MLP, image28: np.ndarray, truth: int | None = None) -> None:
    """The predicted class, all probabilities, the input as the model sees it and the saliency map."""
    try:
        st.html(answer_html(predict_image(net, image28), truth))
        inside.activation_panel(net, image28, models.dataset())  # its hidden units (an expander)
    except PredictionError as e:
        st.warning(str(e), icon=":material/warning:")


@st.fragment(run_every=LIVE_EVERY)
def live_prediction(image28: np.ndarray, truth: int | None) -> None:
    """Re-predicts with a fresh snapshot of the training network every LIVE_EVERY seconds."""
    net = models.resolve_model(models.LIVE_LABEL)
    if net is None:
        st.info("The live model has no weights yet; this refreshes by itself once training starts.")
        return
    # No epoch counter here: the sidebar's is the one on this page (two, read at different moments, disagreed).
    st.caption(
        f":red-badge[:material/sensors: Live] The model training now (its progress is in the sidebar), re-asked "
        f"every {LIVE_EVERY} seconds: watch its answer sharpen as it learns."
    )
    show_prediction(net, image28, truth)


def prediction_panel(label: str, net: MLP | None, image28: np.ndarray, truth: int | None = None) -> None:
    """The answer for one 28x28 input (28, 28): refreshed live for the training model, else once."""
    if label == models.LIVE_LABEL:
        live_prediction(image28, truth)
    elif net is not None:
        show_prediction(net, image28, truth)


def ghost_picker() -> bytes:
    """The Ghost picker; returns the canvas's background as PNG: the chosen class's ghost, else plain black."""
    # Files already found unusable are not read again on every stroke (the Test image tab retries on a full run).
    ds = None if models.data_problem() else models.dataset()
    problem = models.data_problem()  # also what dataset() just found wrong with the files
    if ds is not None:
        why = (
            "Shows, faintly behind the canvas, the average of all the training images of a class, drawn large: "
            "trace it for the shape and proportions the network learned. It is not part of your drawing: the "
            "network sees only your strokes."
        )
    elif problem:
        why = f"Ghosts are averages of the Fashion-MNIST training images, which cannot be used: {problem}"
    else:
        why = (
            "Ghosts are averages of the Fashion-MNIST training images, which are not on this machine. The Train, "
            "Metrics and Explore pages download them in one click, or set `FASHION_MNIST_DIR` before "
            "`streamlit run app.py`."
        )
    choice = st.selectbox("Ghost", [GHOST_NONE, *CLASS_NAMES], key=state.PREDICT_GHOST, disabled=ds is None, help=why)
    if ds is None or choice not in CLASS_NAMES:
        return NO_GHOST
    return ghosts(ds.x_train, ds.y_train, ds.md5)[CLASS_NAMES.index(choice)]


@st.fragment
def draw_tab(label: str, net: MLP | None) -> None:
    """Draw tab: the canvas and its options on the left, the answer on the right (below it when narrow)."""
    # The canvas has a fixed size: on a narrow window the answer moves below it instead of cutting it off.
    left, right = frame.wrapping_columns("draw_row", [2, 3], [CANVAS + 16, 320])
    with left:
        if st_canvas is None:
            st.warning(f"The drawing canvas cannot run here ({CANVAS_PROBLEM}). Upload and Test image still work.")
            return
        width = st.slider(
            "Stroke width", 6, 40, 22, help="Brush size in canvas pixels; thick strokes look more like the dataset."
        )
        background = ghost_picker()
        fill = st.toggle("Fill in closed outlines", key=state.PREDICT_FILL, help=FILL_HELP)
        if advice := fill_advice(net, fill):
            st.caption(f":material/lightbulb: {advice}")
        st.space("small")  # room for the canvas toolbar, which floats just above the canvas
        # Always a background image, black when there is no ghost: the canvas ignores background_color then,
        # and switching between a colour and an image would wipe the drawing. The image is drawn on a canvas
        # of its own, behind the drawing, so image_data holds the strokes alone (on transparent pixels).
        canvas = st_canvas(
            stroke_width=width,
            stroke_color="#FFFFFF",
            background_color="#000000",
            background_image=background,
            update_streamlit=True,
            height=CANVAS,
            width=CANVAS,
            drawing_mode="freedraw",
            return_image_data=True,
            key=state.PREDICT_CANVAS,
        )
        st.caption(DRAW_CAPTION)
    with right:
        image28 = canvas_to_model_input(canvas.image_data, fill=fill) if canvas.image_data is not None else None
        if image28 is None or is_blank(image28):
            st.info("Draw a piece of clothing on the black canvas: a T-shirt, trousers, a bag, a shoe…")
        else:
            prediction_panel(label, net, image28)


@st.fragment
def upload_tab(label: str, net: MLP | None) -> None:
    """Upload tab: a photo, its preview, and the answer for it."""
    left, right = st.columns([2, 3], gap="large")
    with left:
        file = st.file_uploader(
            "A photo or picture of one piece of clothing",
            type=UPLOAD_TYPES,
            key=state.PREDICT_UPLOAD,
            max_upload_size=MAX_UPLOAD_BYTES // (1024 * 1024),
            help=(
                "It is cropped, shrunk to 28×28 and inverted like Fashion-MNIST. A gradient, shadow or textured "
                "surface behind the garment is removed first, if the garment does not touch the photo's edges."
            ),
        )
    if file is None:
        right.info("Upload an image to see what the network makes of it.")
        return
    try:
        preview, image28 = read_upload(file, file.name)
    except ImageError as e:
        right.error(str(e), icon=":material/error:")
        return
    left.image(preview, caption=f"Your upload: {file.name}")
    with right:
        if is_blank(image28):
            st.warning(
                f"Nothing to classify was found in '{file.name}': it is a single flat colour (or fully "
                "transparent). Try a picture of a garment on a plain background.",
                icon=":material/image_not_supported:",
            )
        else:
            prediction_panel(label, net, image28)


def _new_test_image(labels: np.ndarray) -> None:
    """Pick another test image (of the chosen class, if any); labels (10000,)."""
    rng = st.session_state.setdefault(state.PREDICT_RNG, np.random.default_rng(TEST_SEED))
    choice = st.session_state.get(state.PREDICT_TEST_CLASS, ANY_CLASS)
    cls = None if choice == ANY_CLASS else CLASS_NAMES.index(choice)
    st.session_state[state.PREDICT_TEST_INDEX] = pick_test_index(rng, labels, cls)


@st.fragment
def test_tab(label: str, net: MLP | None) -> None:
    """Test image tab: a random test image (of a class, if chosen), its true label and the answer."""
    ds = models.dataset()
    if ds is None and models.data_problem():
        st.warning(f"Test images need the Fashion-MNIST files, which cannot be used: {models.data_problem()}")
        return
    if ds is None:
        st.info(
            "Test images come from the Fashion-MNIST dataset, which is not on this machine yet. The Train, "
            "Metrics and Explore pages download it in one click, or set `FASHION_MNIST_DIR` to a folder with "
            "the four official files before `streamlit run app.py`. Draw and Upload work without it."
        )
        return
    left, right = st.columns([2, 3], gap="large")
    with left:
        st.selectbox(
            "Class",
            [ANY_CLASS, *CLASS_NAMES],
            key=state.PREDICT_TEST_CLASS,
            on_change=_new_test_image,
            args=(ds.y_test,),
            help="Pick test images of one class only, or of any class.",
        )
        st.button(
            "Random test image",
            on_click=_new_test_image,
            args=(ds.y_test,),
            help="Picks another of the 10,000 test images, which the network never trained on.",
        )
        index = st.session_state.get(state.PREDICT_TEST_INDEX)
        if index is None or index >= len(ds.y_test):
            _new_test_image(ds.y_test)
            index = st.session_state[state.PREDICT_TEST_INDEX]
        truth = int(ds.y_test[index])
        st.caption(f"Test image #{index:,} of {len(ds.y_test):,}; its true label is **{CLASS_NAMES[truth]}**.")
    with right:
        prediction_panel(label, net, ds.x_test[index], truth)


frame.setup_page("Predict", INTRO)
label, net = pick_model()
draw, upload, test = st.tabs([":material/draw: Draw", ":material/upload: Upload", ":material/casino: Test image"])
with draw:
    draw_tab(label, net)
with upload:
    upload_tab(label, net)
with test:
    test_tab(label, net)
