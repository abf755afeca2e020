"""One training run end to end, shared by the CLI and the app: train, test once, describe."""

from __future__ import annotations

from collections.abc import Callable

from model.datasets.fashion_mnist import CLASS_NAMES, Dataset
from model.model_file import now_iso
from model.nn.network import MLP
from model.training.config import TrainConfig, changed_settings
from model.training.evaluation import Evaluation, evaluate
from model.training.trainer import Progress, Trainer


def cli_command(cfg: TrainConfig, out: str = "model.npz") -> str:
    """The ``python -m model train`` command that reproduces ``cfg``."""
    parts = ["python -m model train"]
    for key, value in changed_settings(cfg).items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{key.replace('_', '-')}")
        elif isinstance(value, list):
            parts.append(f"{flag} {','.join(map(str, value))}")
        else:
            parts.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    parts.append(f"--out {out}")
    return " ".join(parts)


def describe_run(trainer: Trainer, ev: Evaluation, dataset: Dataset, command: str) -> dict:
    """The ``meta`` dict of a model file for a finished (or stopped) run."""
    return {
        "hidden_activations": list(trainer.net.activations),
        "classes": list(CLASS_NAMES),
        "config": trainer.cfg.to_dict(),
        "metrics": {**ev.summary(), "weighted_f1": round(ev.weighted["f1"], 4)},
        "history": trainer.history.to_dict(),
        "data_md5": dataset.md5,
        "created": now_iso(),
        "command": command,
        "status": trainer.status.value,
        "train_seconds": round(trainer.elapsed, 2),
        "epochs_trained": len(trainer.history.epoch),
        "architecture": trainer.net.describe(),
    }


def finish(trainer: Trainer, dataset: Dataset, command: str = "") -> tuple[MLP, Evaluation]:
    """Test the trained network once and return a copy of it with its meta filled in."""
    net = trainer.snapshot().copy()  # the published snapshot is shared with other readers
    ev = evaluate(net, dataset.x_test, dataset.y_test)
    net.meta = describe_run(trainer, ev, dataset, command or cli_command(trainer.cfg))
    return net, ev


def train(
    cfg: TrainConfig, dataset: Dataset, callback: Callable[[Progress], None] | None = None, command: str = ""
) -> tuple[MLP, Evaluation, Trainer]:
    """Train on the dataset's training images and test once on its test images."""
    trainer = Trainer(cfg, dataset.x_train, dataset.y_train)
    trainer.run(callback)
    net, ev = finish(trainer, dataset, command)
    return net, ev, trainer
