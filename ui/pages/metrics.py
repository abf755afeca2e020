"""Metrics: how the chosen model does on the 10,000 test images, class by class and mistake by mistake."""

import streamlit as st

from model.datasets.fashion_mnist import CLASS_NAMES, Dataset
from model.nn.network import MLP
from model.training.evaluation import Evaluation, confident_mistakes, report_csv
from ui import charts, frame, models, state

GALLERY = 16  # images per gallery
ZOOM = 4  # 28 px -> 112 px, pixel-repeated so edges stay crisp
INTRO = (
    "How the chosen model does on the 10,000 test images it never saw in training: overall scores, the confusion "
    "matrix and per-class figures. Then the mistakes themselves, so you can judge whether they are understandable."
)


def pick_model() -> MLP:
    """The model picker; stops the page when the chosen model cannot be loaded."""
    _, net = models.model_picker(state.METRICS_MODEL, live=False)
    if net is None:
        st.warning("This model could not be loaded; choose another one.")
        st.stop()
    return net


def headline(ev: Evaluation) -> None:
    """Accuracy, macro F1 and the number of mistakes."""
    cols = st.columns(3)
    cols[0].metric("Test accuracy", f"{ev.accuracy:.2%}", help="Share of the 10,000 test images classified correctly.")
    cols[1].metric(
        "Macro F1", f"{ev.macro_f1:.3f}", help="Mean of the ten per-class F1 scores: every class counts the same."
    )
    cols[2].metric("Mistakes", f"{int((ev.pred != ev.y).sum()):,}", help="Test images the model got wrong.")


@st.fragment  # its controls rerun only this region
def confusion(ev: Evaluation) -> None:
    """The confusion matrix (counts or shares) beside the accuracy of each class."""
    # The matrix's numbers need room: on a narrow window the per-class bars move below it.
    left, right = frame.wrapping_columns("confusion_row", [3, 2], [560, 300])
    with left:
        st.subheader("Confusion matrix")
        view = st.radio(
            "Show",
            ["Counts", "Share of each true class"],
            horizontal=True,
            key=state.METRICS_CM_VIEW,
            help="Counts are numbers of test images; shares divide each row by its class size (rows sum to 100%).",
        )
        fig = charts.confusion_figure(ev.confusion, normalized=view != "Counts")
        st.pyplot(fig, alt="Confusion matrix of the test set: true class by row, predicted class by column.")
        st.caption(charts.CONFUSION_CAPTION)
    with right:
        st.subheader("Accuracy per class")
        st.altair_chart(charts.per_class_accuracy_chart(ev.per_class_accuracy, ev.accuracy), width="stretch")
        st.caption("Short bars are the hard classes; the dashed line is the overall accuracy.")


def report_table(ev: Evaluation) -> None:
    """Precision, recall and F1 per class, with a CSV download."""
    st.subheader("Precision, recall and F1 per class")
    df = charts.report_frame(ev.report)
    st.dataframe(df, column_config=charts.report_columns(), height=35 * (len(df) + 1) + 3)
    st.caption(
        "Precision: when the model says this class, how often it is right. Recall: how many of this class it finds. "
        "Macro avg weighs classes equally; weighted avg by their size."
    )
    st.download_button(
        "Download as CSV",
        report_csv(ev.report),
        file_name="classification_report.csv",
        mime="text/csv",
        help="The table above as a CSV file, for a spreadsheet or a report.",
    )


def show_gallery(ev: Evaluation, ds: Dataset, indices) -> None:
    """Zoomed test images at the given indices, captioned true -> predicted (confidence)."""
    images, captions = charts.gallery(ev, ds.x_test, indices, factor=ZOOM)
    if images:
        st.image(images, caption=captions, width=ZOOM * 28, output_format="PNG")


@st.fragment  # its controls rerun only this region
def cell_gallery(ev: Evaluation, ds: Dataset, fp: str) -> None:
    """The test images of one confusion cell; its pickers are keyed by the model (fp) so a new model starts fresh."""
    st.subheader("Look inside one cell")
    true0, pred0 = charts.most_confused_pair(ev.confusion)
    cols = st.columns(2)
    options = list(range(len(CLASS_NAMES)))
    true = cols[0].selectbox(
        "True class",
        options,
        index=true0,
        format_func=CLASS_NAMES.__getitem__,
        key=state.METRICS_TRUE_PREFIX + fp,
        help="The row of the confusion matrix: what the image really is.",
    )
    pred = cols[1].selectbox(
        "Predicted class",
        options,
        index=pred0,
        format_func=CLASS_NAMES.__getitem__,
        key=state.METRICS_PRED_PREFIX + fp,
        help="The column: what the model said. Starts on the model's most frequent mistake.",
    )
    n = int(ev.confusion[true, pred])
    what = "correctly classified" if true == pred else f"predicted as {CLASS_NAMES[pred]}"
    shown = f"; the {min(n, GALLERY)} most confident are shown" if n else ""
    st.caption(f"{n:,} test images of {CLASS_NAMES[true]} were {what}{shown}. Captions: true → predicted (confidence).")
    show_gallery(ev, ds, charts.cell_indices(ev, true, pred, limit=GALLERY))


def worst_mistakes(ev: Evaluation, ds: Dataset) -> None:
    """The wrong answers given with the highest confidence."""
    st.subheader("The most confident mistakes")
    st.caption(
        "Wrong answers given with the highest confidence: some are the model's blind spots, some are mislabelled "
        "or truly ambiguous images."
    )
    show_gallery(ev, ds, confident_mistakes(ev, limit=GALLERY))


def training_history(net: MLP) -> None:
    """The learning curves stored in the model file, if any."""
    st.subheader("Learning curves")
    history = net.meta.get("history") or {}
    if not history.get("epoch"):
        st.info("This model has no training history (it was saved without one), so there are no curves to show.")
        return
    charts.learning_curves(history)
    if any(v is not None for v in history.get("val_acc", [])):
        st.caption("Validation far below train means overfitting; both still rising means more epochs would help.")
    else:
        st.caption(
            "This model was trained with no validation split (on every training image), so there are only "
            "training curves; the test scores above are its held-out check."
        )


frame.setup_page("Metrics", INTRO)
ds = models.require_dataset()
net = pick_model()
ev = models.evaluation(net, ds)
headline(ev)
confusion(ev)
report_table(ev)
cell_gallery(ev, ds, models.fingerprint(net)[:8])
worst_mistakes(ev, ds)
training_history(net)
