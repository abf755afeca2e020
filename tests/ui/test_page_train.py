"""AppTest: Home and Train render with and without the dataset; a tiny training runs to the end."""

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO

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
    at.button(key="FormSubmitter:settings-Start training").click().run()
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
    assert at.text_input(key="cfg_hidden").value == "512,256"
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
