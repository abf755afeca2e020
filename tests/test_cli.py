"""The command line, run as users run it: ``python -m model ...`` in a subprocess."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import shlex
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model import cli
from model.datasets.fashion_mnist import OFFICIAL_FILES
from model.model_file import load_model
from model.training.config import PRESETS, TrainConfig
from model.training.pipeline import cli_command
from tests.support.synthetic import blocks

REPO = Path(__file__).resolve().parents[1]
TRAIN_KEYS = ("test_accuracy", "macro_f1", "train_seconds", "epochs", "model")


def run(*args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "model", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def assert_clean_error(proc: subprocess.CompletedProcess, code: int, *phrases: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.startswith("error: ")
    for phrase in phrases:
        assert phrase in proc.stderr


# ----------------------------------------------------------------------------- tiny data


def idx_gz(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    return gzip.compress(struct.pack(f">I{array.ndim}I", 0x800 | array.ndim, *array.shape) + array.tobytes())


def split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n learnable stand-in images (n, 28, 28), as IDX files hold them, and their labels."""
    x, y = blocks(n, seed)
    return x.reshape(n, 28, 28), y


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-fashion")
    for name, array in zip(OFFICIAL_FILES, (*split(200, 0), *split(100, 1)), strict=True):
        (folder / name).write_bytes(idx_gz(array))
    return folder


@pytest.fixture(scope="module")
def trained(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str], subprocess.CompletedProcess]:
    """One tiny training run shared by the tests below: (model path, argv, finished process)."""
    out = tmp_path_factory.mktemp("cli-models") / "tiny model.npz"  # a space, to check quoting
    argv = ["train", "--data-dir", str(data_dir), "--no-download", "--epochs", "2", "--hidden", "16", "--out", str(out)]
    return out, argv, run(*argv)


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path]:
    png = tmp_path / "shoe.png"
    pixels = np.zeros((60, 40, 3), np.uint8)
    pixels[20:45, 5:35] = (200, 180, 160)
    Image.fromarray(pixels).save(png)
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    return png, text


# ------------------------------------------------------------------------------- usage


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["predict"]])
def test_help(command: list[str]) -> None:
    proc = run(*command, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: python -m model")
    if command == ["train"]:
        for f in dataclasses.fields(TrainConfig):  # every setting has a flag, with its range
            assert "--" + f.name.replace("_", "-") in proc.stdout
        assert "--no-restore-best" in proc.stdout and "--preset" in proc.stdout
        assert "range (0, 100]" in proc.stdout  # --lr
        assert "leaky_relu" in proc.stdout


@pytest.mark.parametrize(
    "args, phrase",
    [
        (["--lr", "-1"], "lr: -1.0 is outside the allowed range (0.0, 100.0]"),
        (["--dropout", "2"], "dropout: 2.0 is outside"),
        (["--activation", "swish"], "invalid choice: 'swish'"),
        (["--hidden", "64,x"], "--hidden"),
        (["--hidden", "0"], "hidden: each layer needs 1 to"),
        (["--epochs", "2.5"], "--epochs"),
        (["--preset", "huge"], "--preset"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_settings_exit_2_with_one_clear_line(args: list[str], phrase: str, tmp_path: Path) -> None:
    proc = run("train", *args, "--data-dir", str(tmp_path), "--no-download")
    assert_clean_error(proc, 2, phrase)
    assert proc.stderr.splitlines()[1].startswith("(run 'python -m model train --help'")
    assert proc.stdout == ""


def test_no_command_is_a_usage_error() -> None:
    assert_clean_error(run(), 2, "COMMAND")


def test_flags_reproduce_every_preset() -> None:
    """The engine's cli_command() output parses back into the same settings."""
    parser = cli.build_parser()
    for name, preset in PRESETS.items():
        args = parser.parse_args(shlex.split(cli_command(preset, "x.npz"))[3:])
        assert cli.config_from_args(args) == preset, name


def test_the_shipped_models_reproduce_command_is_portable() -> None:
    """weights/default.npz's command (shown on Home) names no folder of the machine that trained it,
    and parses back into the settings the file records."""
    meta = load_model(REPO / "weights" / "default.npz").meta
    argv = shlex.split(meta["command"])
    assert argv[:4] == ["python", "-m", "model", "train"]
    assert "--data-dir" not in argv or argv[argv.index("--data-dir") + 1] == "DIR", meta["command"]
    args = cli.build_parser().parse_args(argv[3:])
    assert cli.config_from_args(args) == TrainConfig.from_dict(meta["config"])


def test_explicit_flags_override_the_preset() -> None:
    args = cli.build_parser().parse_args(["train", "--preset", "best", "--epochs", "3", "--no-restore-best"])
    cfg = cli.config_from_args(args)
    assert cfg == dataclasses.replace(PRESETS["best"], epochs=3, restore_best=False)
    assert PRESETS["best"].epochs == 60  # the preset itself is untouched


# ------------------------------------------------------------------------------- train


def test_train(trained) -> None:
    out, argv, proc = trained
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    summary = json.loads(lines[-1])
    assert all(key in summary for key in TRAIN_KEYS)
    assert summary["epochs"] == 2 and summary["model"] == str(out) and summary["status"] == "done"
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2 and "train loss" in epochs[0] and "val loss" in epochs[0] and " lr " in epochs[0]
    # not a terminal: no progress bar; the non-official .gz files only warn, one line each
    assert "\r" not in proc.stderr and "Traceback" not in proc.stderr
    assert all(line.startswith("warning: ") for line in proc.stderr.splitlines())
    net = load_model(out)
    assert net.describe() == "784-16-10 (relu)"
    # The reproduce command names no folder of this machine: the data folder reads DIR.
    given = [("DIR" if argv[i - 1] == "--data-dir" else a) for i, a in enumerate(argv)]
    assert net.meta["command"] == "python -m model " + shlex.join(given)
    assert str(data_dir) not in net.meta["command"] and "--data-dir DIR" in net.meta["command"]
    assert net.meta["config"]["hidden"] == [16] and net.meta["epochs_trained"] == 2


def test_recorded_command_hides_the_data_folder() -> None:
    assert cli.recorded_command(["train", "--preset", "best", "--data-dir", "../shared/data/x", "--out", "w.npz"]) == (
        "python -m model train --preset best --data-dir DIR --out w.npz"
    )
    assert cli.recorded_command(["train", "--data-dir=/home/me/data", "--epochs", "3"]) == (
        "python -m model train --data-dir DIR --epochs 3"
    )
    assert cli.recorded_command(["train", "--epochs", "3"]) == "python -m model train --epochs 3"  # env var or cache


def test_train_prints_an_estimate_and_both_losses(data_dir: Path, tmp_path: Path) -> None:
    """Before training, an estimated duration; each epoch, the plain losses and, with L2, the objective apart."""
    argv = ["train", "--data-dir", str(data_dir), "--epochs", "2", "--hidden", "8", "--l2", "0.01"]
    proc = run(*argv, "--label-smoothing", "0.1", "--out", str(tmp_path / "m.npz"))
    assert proc.returncode == 0, proc.stderr
    estimate = [line for line in proc.stdout.splitlines() if line.startswith("time ")]
    assert len(estimate) == 1 and "estimated" in estimate[0] and "on this machine" in estimate[0]
    epochs = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2 and all(" objective " in line and " incl. L2 " in line for line in epochs)
    history = load_model(tmp_path / "m.npz").meta["history"]
    assert history["train_objective"][0] > history["train_loss"][0]  # smoothing and L2 add to the objective
    assert history["l2_penalty"][0] > 0


def test_a_stall_warning_is_printed_once(data_dir: Path, tmp_path: Path) -> None:
    argv = ["train", "--data-dir", str(data_dir), "--epochs", "4", "--hidden", "8", "--init", "normal"]
    proc = run(*argv, "--optimizer", "sgd", "--lr", "1e-6", "--schedule", "constant", "--out", str(tmp_path / "m.npz"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    warnings = [i for i, line in enumerate(lines) if line.startswith("Training is stalling")]
    assert len(warnings) == 1 and lines[warnings[0] - 1].startswith("epoch 2/4"), proc.stdout  # when it began


def test_train_quiet_default_out(data_dir: Path, tmp_path: Path) -> None:
    """--quiet prints only the JSON line; without --out the model goes to the app's models folder."""
    folder = tmp_path / "models"
    argv = ["train", "--data-dir", str(data_dir), "--epochs", "1", "--hidden", "8", "--val-fraction", "0", "--quiet"]
    proc = run(*argv, env={"FASHION_MODELS_DIR": str(folder)})
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1
    saved = Path(json.loads(proc.stdout)["model"])
    assert saved.parent == folder and saved.suffix == ".npz" and saved.exists()


def test_train_without_data_and_no_download(tmp_path: Path) -> None:
    proc = run("train", "--data-dir", str(tmp_path), "--no-download", "--epochs", "1")
    assert_clean_error(proc, 1, "FASHION_MNIST_DIR", str(tmp_path))


def test_train_env_var_is_the_default_data_dir(tmp_path: Path) -> None:
    proc = run("train", "--no-download", env={"FASHION_MNIST_DIR": str(tmp_path / "nowhere")})
    assert_clean_error(proc, 1, "nowhere")


def test_train_out_is_a_folder(data_dir: Path, tmp_path: Path) -> None:
    proc = run("train", "--data-dir", str(data_dir), "--out", str(tmp_path))
    assert_clean_error(proc, 2, "--out", "is a folder")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_stops_and_saves(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "stopped.npz"
    argv = [
        "train",
        "--data-dir",
        str(data_dir),
        "--epochs",
        "1000",
        "--hidden",
        "8",
        "--batch-size",
        "1",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "model", *argv], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first = ""
        deadline = time.monotonic() + 30
        while not first.startswith("epoch ") and time.monotonic() < deadline:
            first = proc.stdout.readline()
        assert first.startswith("epoch "), proc.stderr.read() if proc.poll() is not None else "no epoch line"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "Stopping after this batch" in stderr and "Traceback" not in stderr
    summary = json.loads(stdout.splitlines()[-1])
    assert summary["status"] == "stopped" and 1 <= summary["epochs"] < 1000
    assert load_model(out).meta["status"] == "stopped"


# ---------------------------------------------------------------------------- evaluate


def test_evaluate_text(trained, data_dir: Path) -> None:
    out = trained[0]
    proc = run("evaluate", str(out), "--data-dir", str(data_dir), "--no-download")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for phrase in ("accuracy", "macro F1", "precision", "recall", "f1-score", "support", "macro avg", "weighted avg"):
        assert phrase in text
    assert "confusion matrix" in text and "Ankle boot" in text and "Tshirt" in text
    matrix = text.split("confusion matrix")[1].splitlines()[2:]
    assert len(matrix) == 10
    assert sum(int(n) for row in matrix for n in row.split()[-10:]) == 100  # every test image counted once
    assert max(len(line) for line in text.split("accuracy")[1].splitlines()) <= 80  # the tables fit a terminal


def test_evaluate_json(trained, data_dir: Path) -> None:
    out = trained[0]
    proc = run("evaluate", str(out), "--json", "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["test_accuracy"] == json.loads(trained[2].stdout.splitlines()[-1])["test_accuracy"]
    assert 0.0 <= result["macro_f1"] <= 1.0
    assert [r["class"] for r in result["report"]][-2:] == ["macro avg", "weighted avg"]
    assert len(result["report"]) == 12 and set(result["report"][0]) == {"class", "precision", "recall", "f1", "support"}
    assert np.array(result["confusion"]).shape == (10, 10) and np.sum(result["confusion"]) == 100


def test_evaluate_missing_or_bad_model(tmp_path: Path, images) -> None:
    assert_clean_error(run("evaluate", str(tmp_path / "nope.npz")), 1, "nope.npz", "No such file")
    assert_clean_error(run("evaluate", str(images[1])), 1, "notes.txt", "not a valid")


# ----------------------------------------------------------------------------- predict


def test_predict(trained, images) -> None:
    png, text = images
    proc = run("predict", str(trained[0]), str(png), str(text), str(png.parent / "missing.png"))
    assert proc.returncode == 1  # some images failed...
    assert proc.stdout.startswith(str(png)) and proc.stdout.count("%") == 3  # ...the good one still ran
    errors = proc.stderr.splitlines()
    assert len(errors) == 2 and all(e.startswith("error: ") for e in errors)
    assert "notes.txt" in errors[0] and "not an image" in errors[0]
    assert "missing.png" in errors[1] and "Traceback" not in proc.stderr


APP_WORDS = ("upload", "please", "click", "button", "page", "sidebar")


def test_predict_errors_use_command_line_words(trained, tmp_path: Path) -> None:
    """Bad files get messages that make sense in a terminal: no 'Please upload ...' from the app."""
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image\n")
    huge = tmp_path / "huge.png"
    Image.new("L", (7000, 7000)).save(huge)  # over the decoder's pixel limit
    proc = run("predict", str(trained[0]), str(empty), str(text), str(huge))
    errors = proc.stderr.splitlines()
    assert proc.returncode == 1 and len(errors) == 3, proc.stderr
    assert "empty" in errors[0] and "not an image" in errors[1] and "pixels" in errors[2]
    for line in errors:
        assert not any(word in line.lower() for word in APP_WORDS), line


def test_predict_json(trained, images) -> None:
    png, text = images
    proc = run("predict", str(trained[0]), str(png), str(text), "--json")
    assert proc.returncode == 1
    good, bad = json.loads(proc.stdout)
    assert good["file"] == str(png) and good["error"] is None
    assert len(good["top3"]) == 3 and {"class", "probability"} == set(good["top3"][0])
    probs = [t["probability"] for t in good["top3"]]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0001
    assert bad["file"] == str(text) and bad["top3"] == [] and "not an image" in bad["error"]


def test_predict_missing_model(images) -> None:
    assert_clean_error(run("predict", "no-such-model.npz", str(images[0])), 1, "no-such-model.npz")
