"""AppTest: Home and Train render with and without the dataset; a tiny training runs to the end."""

import json
import re

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from ui import state

TIMEOUT = 60


def run(path, **query):
    at = AppTest.from_file(str(REPO / path), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def test_home_shows_the_default_model_with_and_without_data(real_data):
    at = run("app.py")
    assert not at.exception
    acc = [m for m in at.metric if m.label == "Test accuracy"]
    assert acc and acc[0].value.endswith("%")
    assert not at.info  # the dataset is there


def test_home_without_data_still_offers_the_model(no_data):
    at = run("app.py")
    assert not at.exception
    assert any("not on this machine" in i.value for i in at.info)
    assert [m for m in at.metric if m.label == "Test accuracy"]


def test_train_without_data_explains_how_to_get_it(no_data):
    at = run("ui/pages/train.py")
    assert not at.exception
    assert any("FASHION_MNIST_DIR" in i.value for i in at.info)
    assert [b for b in at.button if b.label == "Download Fashion-MNIST"]


def test_train_runs_a_tiny_training_to_completion(real_data):
    at = run("ui/pages/train.py")
    assert not at.exception
    at.number_input(key="cfg_epochs").set_value(2)
    at.number_input(key="cfg_train_subset").set_value(2000)
    at.text_input(key="cfg_hidden").set_value("32")
    at.button(key=state.START).click().run()
    job = at.session_state["job"]
    job.join(120)
    at.run()
    assert not at.exception
    assert job.state == "done"
    assert any("Training finished" in s.value for s in at.success)
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Test accuracy"].rstrip("%")) > 40  # 4x chance after only 28 steps
    assert at.query_params["epochs"] == "2" and at.query_params["hidden"] == "32"
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 10


def test_presets_fill_the_form_and_the_link(real_data):
    at = run("ui/pages/train.py")
    best = [b for b in at.button if b.label.startswith("Best recipe")][0]
    best.click().run()
    assert at.text_input(key="cfg_hidden").value == "1024,512"
    assert at.number_input(key="cfg_drawings").value == 0.3
    assert at.selectbox(key="cfg_optimizer").value == "adamw"
    assert at.query_params["optimizer"] == "adamw"


def test_settings_come_from_a_shared_link_and_bad_ones_are_named(real_data):
    at = run("ui/pages/train.py", lr="0.05", activation="tanh", dropout="7")
    assert not at.exception
    assert at.number_input(key="cfg_lr").value == 0.05
    assert at.selectbox(key="cfg_activation").value == "tanh"
    assert any("dropout" in w.value for w in at.warning)


def test_entry_point_opens_home_with_named_pages(real_data):
    at = run("app.py")
    assert not at.exception
    assert at.title[0].value == "Fashion Live"


def test_workspace_token_in_the_link_brings_saved_models_back(real_data, models_dir):
    from model.nn.network import MLP
    from ui.store import ModelStore

    token = "0123456789abcdef0123456789abcdef"
    ModelStore(models_dir, owner=token).save(MLP([784, 8, 10], ["relu"]), "my-run")  # saved before a restart
    mine = run("app.py", ws=token)
    assert "Saved: my-run" in mine.selectbox(key="home_model").options
    stranger = run("app.py")  # a new session gets its own fresh workspace
    assert stranger.query_params["ws"] != token
    assert "Saved: my-run" not in stranger.selectbox(key="home_model").options
    forged = run("app.py", ws="../../etc")  # not a token: ignored, a fresh one is made
    assert forged.query_params["ws"] != "../../etc" and len(forged.query_params["ws"]) == 32


def test_share_link_leaves_out_the_workspace(real_data):
    at = run("ui/pages/train.py")
    [b for b in at.button if b.label.startswith("Tutorial: 128 sigmoid")][0].click().run()
    link = at.code[-1].value
    assert "activation=sigmoid" in link and "lr=1.0" in link and "ws=" not in link
    assert at.query_params["ws"]


def test_curves_of_a_run_stopped_in_its_first_epoch():
    """Only the per-batch loss exists: its chart shows, the accuracy side says why it is empty."""

    def page():
        from ui import charts

        charts.learning_curves({"epoch": [], "batch_seen": [128, 256, 384], "batch_loss": [2.3, 2.1, 1.9]}, 1000)
        charts.learning_curves({})

    at = AppTest.from_function(page, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1, [c.type for c in charts]
    captions = [c.value for c in at.caption]
    assert any("no epoch finished" in c for c in captions) and "No finished epoch yet." in captions


# ----------------------------------------------------------------------------- what the Train page says
def test_settings_that_do_nothing_are_greyed_out_with_the_reason(real_data):
    at = run("ui/pages/train.py")  # the fast preset: adam, cosine, patience 0
    for key, why in [
        ("momentum", "optimizer is adam"),
        ("weight_decay", "optimizer is adam"),
        ("step_epochs", "schedule is cosine"),
        ("gamma", "schedule is cosine"),
    ]:
        box = at.number_input(key=state.config_key(key))
        assert box.disabled and why in box.help, (key, box.help)
    assert at.checkbox(key=state.config_key("restore_best")).disabled
    assert "early stopping, which is off" in at.checkbox(key=state.config_key("restore_best")).help
    for key in ("lr", "epochs", "patience", "warmup_epochs"):
        assert not at.number_input(key=state.config_key(key)).disabled, key

    at.selectbox(key=state.config_key("optimizer")).select("momentum").run()
    at.selectbox(key=state.config_key("schedule")).select("step").run()
    at.number_input(key=state.config_key("patience")).set_value(3).run()
    for key in ("momentum", "step_epochs", "gamma"):
        assert not at.number_input(key=state.config_key(key)).disabled, key
    assert at.number_input(key=state.config_key("weight_decay")).disabled  # adamw only
    assert not at.checkbox(key=state.config_key("restore_best")).disabled
    at.number_input(key=state.config_key("val_fraction")).set_value(0.0).run()  # nothing to watch
    assert at.number_input(key=state.config_key("patience")).disabled
    assert at.checkbox(key=state.config_key("restore_best")).disabled


def test_share_link_and_address_follow_the_settings_as_they_are_edited(real_data):
    at = run("ui/pages/train.py")
    at.number_input(key=state.config_key("epochs")).set_value(7).run()
    at.text_input(key=state.config_key("hidden")).set_value("64,32").run()
    assert "epochs=7" in at.code[-1].value and "hidden=64%2C32" in at.code[-1].value  # no Start pressed
    assert at.query_params["epochs"] == "7"
    assert "job" not in at.session_state


def test_settings_come_back_after_a_visit_to_another_page(real_data):
    at = run("app.py")
    at.switch_page("ui/pages/train.py").run()
    at.number_input(key=state.config_key("epochs")).set_value(7).run()
    at.switch_page("ui/pages/metrics.py").run()
    at.query_params.clear()  # the sidebar link to Train carries no settings
    at.switch_page("ui/pages/train.py").run()
    assert not at.exception
    assert at.number_input(key=state.config_key("epochs")).value == 7


def test_preset_labels_carry_no_durations_and_each_gets_an_estimate_for_this_machine(real_data, monkeypatch):
    import streamlit as st

    from model.training import estimate

    monkeypatch.setattr(estimate, "estimate_run_seconds", lambda cfg, n_images=60_000: 2.0 * cfg.epochs)
    st.cache_data.clear()
    at = run("ui/pages/train.py")
    presets = [b for b in at.button if b.key and b.key.startswith("preset_")]
    assert len(presets) >= 4
    for b in presets:
        assert not re.search(r"\d\s*(s|sec|seconds|min|minutes)\b", b.label), b.label
    captions = [c.value for c in at.caption]
    assert "30 epochs: about 60 s" in captions  # the fast preset: 30 epochs, 2 s each by the stub
    assert any("This run: about 60 s on this machine" in c for c in captions)
    assert any("estimates for this machine" in c for c in captions)
    st.cache_data.clear()


def test_after_start_the_live_view_is_on_top_and_never_says_number_0(real_data):
    at = run("ui/pages/train.py")
    at.number_input(key="cfg_epochs").set_value(1)
    at.number_input(key="cfg_train_subset").set_value(1000)
    at.button(key=state.START).click().run()
    assert not at.exception
    headers = [h.value for h in at.subheader]
    assert headers[0] == "Live" and "Settings for the next run" in headers, headers
    first_bar = at.get("progress")[0].proto.text
    assert "number 0" not in first_bar, first_bar
    job = at.session_state["job"]
    job.join(120)
    at.run()
    assert not at.exception and [h.value for h in at.subheader][0] == "Live"
    table = at.dataframe[0]
    columns = json.loads(table.proto.columns)
    formats = {name: columns[name]["type_config"]["format"] for name in ("precision", "recall", "f1")}
    assert set(formats.values()) == {"%.3f"}, formats  # 0.980 beside 0.845, never 0.98


class StubJob:
    """The parts of a TrainingJob that status_line reads."""

    def __init__(self, state, place=0, progress=None, alive=True):
        self.state, self.queue_position, self.progress, self.alive, self.slot_limit = state, place, progress, alive, 2


def test_status_line_never_says_number_0_in_the_queue():
    from model.training.trainer import Progress, RunState
    from ui.train_view import status_line

    assert status_line(StubJob(RunState.QUEUED, place=0)) == "Starting on a training worker…"
    assert "you are number 2 in the queue" in status_line(StubJob(RunState.QUEUED, place=2))
    p = Progress("batch", epoch=11, epochs=30, batch=5, batches=422, seen=0, train_loss=0.5, train_acc=0.8)
    assert status_line(StubJob(RunState.RUNNING, progress=p)).startswith("Epoch 11/30 · batch 5/422")


def test_one_way_of_counting_epochs():
    from model.training.trainer import Progress
    from ui.train_view import epoch_counter

    running = Progress("batch", epoch=11, epochs=30, batch=5, batches=422, seen=0, train_loss=0.5, train_acc=0.8)
    ended = Progress("epoch", epoch=10, epochs=30, batch=422, batches=422, seen=0, train_loss=0.5, train_acc=0.8)
    assert epoch_counter(running) == "epoch 11/30" and epoch_counter(ended) == "epoch 10/30"


def test_estimate_text_is_round():
    from ui.train_view import estimate_text

    assert [estimate_text(s) for s in (3.2, 42, 88, 200, 4000, 9000)] == [
        "about 3 s",
        "about 40 s",
        "about 90 s",
        "about 3 min",
        "about 67 min",
        "about 2.5 h",
    ]
