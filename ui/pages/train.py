"""Train: pick settings (or a preset), train live in the background, then test, save or download."""

import json
from urllib.parse import urlencode

import streamlit as st
from threadpoolctl import threadpool_limits

from model.errors import FashionError
from model.model_file import model_bytes
from model.nn.network import MLP
from model.training.config import (
    CHOICES,
    HELP,
    PRESET_DESCRIPTIONS,
    PRESET_LABELS,
    PRESETS,
    RANGES,
    TrainConfig,
    from_query,
    parse_hidden,
    to_query,
)
from model.training.estimate import estimate_render_seconds, estimate_run_seconds
from model.training.pipeline import cli_command
from model.training.trainer import RunState
from ui import charts, cluster, frame, inside, jobs, models, state
from ui.jobs import TrainingJob
from ui.live_chart import live_curves_html
from ui.train_view import estimate_text, inactive_reason, status_line

INTRO = (
    "Choose how the network is built and trained, press Start, and watch its loss fall and accuracy rise epoch by epoch. "
    "Training runs in the background, so you can draw on the Predict page while it learns."
)
FIELDS = list(TrainConfig().to_dict())
# Each refresh costs the server a rerun and the browser a redraw, both taken from training's CPU.
LIVE_EVERY = 2.0
FORM_MIN = 1e-6  # the form's smallest value for settings that must be above 0 (lr, gamma)
LABELS = {
    "lr": "Learning rate",
    "init": "Initializer",
    "l2": "L2 penalty",
    "gamma": "Step factor (gamma)",
    "warmup_epochs": "Warm-up epochs",
    "val_fraction": "Validation fraction",
    "restore_best": "Restore best weights",
    "shift": "Random shift (px)",
    "flip": "Random mirror images",
    "drawings": "Drawings share",
}
GROUPS = {
    "Network": ["hidden", "activation", "init", "dropout", "input_dropout", "preprocessing"],
    "Optimizer": ["optimizer", "lr", "momentum", "weight_decay", "l2", "label_smoothing"],
    "Schedule": ["schedule", "warmup_epochs", "step_epochs", "gamma", "epochs", "batch_size"],
    "Data and stopping": [
        "val_fraction",
        "train_subset",
        "seed",
        "shift",
        "flip",
        "drawings",
        "patience",
        "restore_best",
    ],
}
PRESETS_PER_ROW = 3
ESTIMATE_PROBES = 2
RESULT_NOTES = {  # how a finished run's message is shown, by its state
    RunState.DONE: st.success,
    RunState.EARLY_STOP: st.success,
    RunState.STOPPED: st.warning,
    RunState.DIVERGED: st.error,
    RunState.ERROR: st.error,
}


# ----- settings ------------------------------------------------------------------------
def apply(cfg: TrainConfig) -> None:
    """Put a configuration into the form's widgets and the URL."""
    for key, value in cfg.to_dict().items():
        st.session_state[state.config_key(key)] = ",".join(map(str, value)) if key == "hidden" else value
    st.query_params.from_dict({**to_query(cfg), "ws": frame.session_id()})


def settings_from_link() -> None:
    """Fill the form on arrival: with this session's last settings when coming back from another
    page, else (first visit) from the shared link's settings, saying what was changed."""
    if state.config_key("seed") in st.session_state:
        return
    kept = st.session_state.get(state.TRAIN_SETTINGS)
    if kept is not None:
        apply(TrainConfig.from_dict(kept))
        return
    cfg, problems = from_query(st.query_params.to_dict())
    for key in ("lr", "gamma"):
        if getattr(cfg, key) < FORM_MIN:
            problems.append(f"{key}={getattr(cfg, key)!r} raised to {FORM_MIN:g}, the smallest value the form takes")
            setattr(cfg, key, FORM_MIN)
    apply(cfg)
    for problem in problems:
        st.warning(f"Link setting {problem}")


@st.cache_data(show_spinner=False, max_entries=256)
def run_estimate(settings: str, n_images: int) -> float:
    """Seconds a run of these settings (TrainConfig as sorted JSON) takes here; once per server and settings.

    Timed with one BLAS thread, as the training workers run (Dask starts them so): with the web
    server's default threads a busy machine made the probe several times slower than the runs.
    The faster of two probes: a burst of other work during one probe only ever slows it down.
    """
    cfg = TrainConfig.from_dict(json.loads(settings))
    with threadpool_limits(limits=1, user_api="blas"):
        return min(estimate_run_seconds(cfg, n_images) for _ in range(ESTIMATE_PROBES))


@st.cache_data(show_spinner=False, max_entries=64)
def render_estimate(drawings: float, val_fraction: float, train_subset: int, n_images: int) -> float:
    """Seconds drawing the training images takes here before a run with drawings; once per server and split."""
    cfg = TrainConfig(drawings=drawings, val_fraction=val_fraction, train_subset=train_subset)
    return estimate_render_seconds(cfg, n_images)


def estimate(cfg: TrainConfig, n_images: int) -> str:
    """'about N s', the run's estimated duration on this machine (and the drawings' first rendering)."""
    text = estimate_text(run_estimate(json.dumps(cfg.to_dict(), sort_keys=True), n_images))
    if cfg.drawings:
        first = render_estimate(cfg.drawings, cfg.val_fraction, cfg.train_subset, n_images)
        text += f", plus {estimate_text(first)} to draw the training images the first time"
    return text


def presets(n_images: int) -> None:
    """One button per preset (a click fills the form), each with its estimated duration here."""
    st.write("**Presets**")
    where = (
        "this server; runs train on the cluster's machines, which may be faster or slower"
        if cluster.scheduler_address()
        else "this machine"
    )
    st.caption(f"Times are estimates for {where}, from a short speed test; they grow when it is busy.")
    names = list(PRESETS)
    with st.spinner("Timing the presets on this machine…"):
        for row in range(0, len(names), PRESETS_PER_ROW):
            for col, name in zip(st.columns(PRESETS_PER_ROW), names[row : row + PRESETS_PER_ROW]):
                cfg = PRESETS[name]
                col.button(
                    PRESET_LABELS[name],  # no durations: those depend on the machine, see the caption
                    on_click=apply,
                    args=(cfg,),
                    width="stretch",
                    help=PRESET_DESCRIPTIONS.get(name, ""),
                    key=f"preset_{name}",
                )
                col.caption(f"{cfg.epochs} epochs: {estimate(cfg, n_images)}")  # a run that stops early is shorter


def widget(key: str, col, values: dict) -> None:
    """The form widget of one ``TrainConfig`` field, in a column; greyed out, saying why, when the
    other settings (``values``) make it do nothing."""
    k = state.config_key(key)
    reason = inactive_reason(key, values)
    h = f"{reason}\n\n{HELP[key]}" if reason else HELP[key]
    off = bool(reason)
    label = LABELS.get(key, key.replace("_", " ").capitalize())
    if key == "hidden":
        col.text_input("Hidden layers", key=k, help=h)
    elif key in CHOICES:
        col.selectbox(label, CHOICES[key], key=k, help=h, disabled=off)
    elif isinstance(values[key], bool):
        col.checkbox(label, key=k, help=h, disabled=off)
    else:
        # value= the value shown: a value the form does not take (out of range, NaN) goes back to it
        # rather than to the minimum. Browsers never send one; scripted clients (AppTest) can.
        low, high, inclusive = RANGES[key]
        if isinstance(low, int):
            col.number_input(
                label, min_value=low, max_value=high, step=1, value=values[key], key=k, help=h, disabled=off
            )
        else:
            low = low if inclusive else FORM_MIN
            col.number_input(
                label,
                min_value=float(low),
                max_value=float(high),
                value=float(values[key]),
                format="%g",
                step=None,
                key=k,
                help=h,
                disabled=off,
            )


def form_config() -> TrainConfig:
    """The settings held by the form's widgets, validated (ConfigError names the first bad one)."""
    values = {k: st.session_state[state.config_key(k)] for k in FIELDS}
    values["hidden"] = parse_hidden(values["hidden"])
    return TrainConfig.from_dict(values)


def settings_form(n_images: int) -> TrainConfig | None:
    """The settings and Start; returns a validated configuration when Start is pressed.

    Plain widgets, not a form: every change reruns the page, so settings that do nothing with the
    others grey out at once and the link and the estimate follow the settings as they are edited.
    """
    values = {k: st.session_state[state.config_key(k)] for k in FIELDS}
    cols = st.columns(len(GROUPS))
    for col, (title, keys) in zip(cols, GROUPS.items()):
        col.write(f"**{title}**")
        for key in keys:
            widget(key, col, values)
    try:
        cfg = form_config()
    except FashionError as e:
        cfg, problem = None, str(e)
    else:
        problem = ""
        st.session_state[state.TRAIN_SETTINGS] = cfg.to_dict()  # brought back when the learner returns
        st.query_params.from_dict({**to_query(cfg), "ws": frame.session_id()})  # the address follows too
    busy = frame.current_job() is not None and frame.current_job().alive
    left, right = st.columns([1, 3], vertical_alignment="center")
    submitted = left.button(
        "Start training",
        type="primary",
        key=state.START,
        disabled=busy,
        help="Trains in the background with these settings.",
        width="stretch",
    )
    if busy:
        right.caption("A run is going on (above): stop it or let it finish to start another.")
    elif cfg is not None:
        right.caption(f"This run: {estimate(cfg, n_images)} on this machine (an estimate from a short speed test).")
    if not submitted:
        return None
    if problem:
        st.error(problem)
    return cfg


def start_training(cfg: TrainConfig) -> None:
    """Start this session's run on the training cluster and redraw the page with the live view on top."""
    st.query_params.from_dict({**to_query(cfg), "ws": frame.session_id()})
    try:
        job = TrainingJob(cfg, jobs.default_source(), command=cli_command(cfg)).start()
    except FashionError as e:  # no cluster: say which and why; the form keeps its settings
        st.error(str(e))
        return
    st.session_state[state.JOB] = job
    st.session_state[state.SHOWN_JOB] = None
    st.session_state[state.SCROLL_TO_LIVE] = True
    st.rerun()


def share_link() -> None:
    """A link with the current settings but without the private workspace token; it follows the form."""
    try:
        query = urlencode(to_query(form_config()))
    except FashionError:
        return
    base = (st.context.url or "").split("?")[0]
    st.caption("Share these settings (the link leaves out your private workspace):")
    st.code(f"{base}?{query}" if query else base, language=None, wrap_lines=True)


# ----- the run -------------------------------------------------------------------------
def curves(job: TrainingJob) -> None:
    """Light SVG curves while the run goes on (redrawn every refresh), interactive charts once it ends."""
    if job.alive:
        st.html(live_curves_html(job.history, job.per_epoch))
        return
    charts.learning_curves(job.history, job.per_epoch)


def run_view(job: TrainingJob) -> None:
    """Progress, speed, a Stop button while it trains, and the curves."""
    job.heartbeat()
    p = job.progress
    st.progress(p.fraction if p else 0.0, text=status_line(job))
    if job.alive and st.button("Stop", help="Stops after the current batch and keeps what was learned so far."):
        job.stop()
    if job.per_epoch:  # the run has reported from its worker
        curves(job)
        inside.network_panels(job)  # gradients, dead units, first-layer weights (an expander)


@st.fragment(run_every=LIVE_EVERY)
def live_view() -> None:
    """The run view, refreshed every LIVE_EVERY seconds while the run goes on."""
    job = frame.current_job()
    run_view(job)
    if not job.alive and st.session_state.get(state.SHOWN_JOB) != id(job):
        st.session_state[state.SHOWN_JOB] = id(job)
        st.rerun()  # the run ended: redraw the whole page with its results


SCROLL_TO_LIVE_JS = """<script>
(() => {  // once, right after Start: bring the live view into sight (the Start button may be far below)
  let tries = 0;
  const go = () => {
    const live = document.getElementById("live");
    if (live) live.scrollIntoView({block: "start"});
    else if (tries++ < 40) setTimeout(go, 50);
  };
  go();
})();
</script>"""


def live_section(job: TrainingJob) -> None:
    """This session's run, on top of the page: the live view while it trains, the last view after."""
    st.subheader("Live", anchor="live")
    if st.session_state.pop(state.SCROLL_TO_LIVE, False):
        st.html(SCROLL_TO_LIVE_JS, unsafe_allow_javascript=True)
    if job.alive or st.session_state.get(state.SHOWN_JOB) != id(job):
        live_view()  # ticks every LIVE_EVERY s; redraws the page once when the run ends
    else:
        run_view(job)  # the run no longer trains: no timer, so an open page costs nothing


def save_form(net: MLP, job: TrainingJob) -> None:
    """Save the run's model into this user's models folder under a name."""
    with st.form(state.SAVE_FORM):
        name = st.text_input(
            "Save as",
            value=f"run-{id(job) % 10000}",
            help="A name for your models folder; letters, digits, - _ . and spaces.",
        )
        if st.form_submit_button(
            "Save model", help="Writes the model file to your models folder (never over the shipped default)."
        ):
            try:
                path = frame.store().save(net, name)
                st.toast(f"Saved as {path.stem}")
            except FashionError as e:
                st.error(str(e))


def download(net: MLP, where=st) -> None:
    """The model file, for importing later or for the CLI."""
    where.download_button(
        "Download model file",
        model_bytes(net),
        file_name="fashion-model.npz",
        help="The .npz file: import it later or use it with the CLI.",
    )


def results(job: TrainingJob) -> None:
    """The outcome of a finished or stopped run: message, test metrics, save, download, use."""
    if job.message:
        RESULT_NOTES.get(job.state, st.info)(job.message)
    for warning in job.warnings:
        st.warning(warning)
    if job.resumable and st.button("Resume training", help="Continues exactly where it stopped."):
        try:
            job.start()
        except FashionError as e:
            st.error(str(e))
            return
        st.session_state[state.SHOWN_JOB] = None  # redraw the results again when this leg ends
        st.rerun()
    if job.result is None:
        kept = job.snapshot() if job.state == RunState.ERROR else None
        if kept is not None:  # its worker died: the last snapshot, untested, can still be saved
            save_form(kept, job)
            download(kept)
        return
    net, ev = job.result
    label = f"run {job.cfg.seed}-{id(job) % 10000} ({ev.accuracy:.1%})"
    models.session_models()[label] = net
    st.subheader("Test set (10,000 images the network never trained on)")
    c1, c2 = st.columns(2)
    c1.metric("Test accuracy", f"{ev.accuracy:.2%}")
    c2.metric("Macro F1", f"{ev.macro_f1:.3f}")
    st.dataframe(ev.per_class, hide_index=True, width="stretch", column_config=charts.report_columns())
    save_form(net, job)
    c1, c2 = st.columns(2)
    download(net, c1)
    if c2.button("Use this model for Predict and Metrics", help="Makes it the active model on every page."):
        st.session_state[state.ACTIVE_MODEL] = f"This session: {label}"
        st.toast("Active model set.")


frame.setup_page("Train", INTRO, sidebar_status=False)  # the live view shows the run; one timer per page is cheaper
ds = models.require_dataset()
cluster.warm_up()  # the local cluster starts while the learner picks settings
settings_from_link()
job = frame.current_job()
started = job is not None and job.state != RunState.READY  # READY: never started
if started:  # the run on top, where the learner looks after Start; the settings for the next one below
    live_section(job)
    if not job.alive:
        results(job)
    st.subheader("Settings for the next run")
presets(len(ds.y_train))
cfg = settings_form(len(ds.y_train))
if cfg is not None:
    start_training(cfg)
share_link()
if not started:
    st.subheader("Live", anchor="live")
    st.caption("No training yet in this session: pick a preset or settings above and press Start.")
