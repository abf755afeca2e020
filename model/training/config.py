"""Training settings, their valid ranges, and the one-click presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from model.errors import ConfigError
from model.nn.activations import ACTIVATIONS
from model.nn.initializers import INITIALIZERS
from model.nn.optimizers import OPTIMIZERS
from model.nn.preprocessing import PREPROCESSING
from model.nn.schedules import SCHEDULES

CHOICES = {
    "activation": tuple(ACTIVATIONS),
    "init": tuple(INITIALIZERS),
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "preprocessing": PREPROCESSING,
}
# (low, high, low_inclusive): the range a learner may choose from, also the CLI's and app's.
RANGES = {
    "lr": (0.0, 100.0, False),
    "momentum": (0.0, 0.999, True),
    "weight_decay": (0.0, 1.0, True),
    "warmup_epochs": (0.0, 100.0, True),
    "step_epochs": (1, 1000, True),
    "gamma": (0.0, 1.0, False),
    "batch_size": (1, 60000, True),
    "epochs": (1, 1000, True),
    "l2": (0.0, 1.0, True),
    "dropout": (0.0, 0.9, True),
    "input_dropout": (0.0, 0.9, True),
    "shift": (0, 4, True),
    "drawings": (0.0, 0.5, True),
    "label_smoothing": (0.0, 0.5, True),
    "val_fraction": (0.0, 0.5, True),
    "seed": (0, 2**32 - 1, True),
    "patience": (0, 1000, True),
    "train_subset": (0, 60000, True),
}
MAX_LAYERS, MAX_UNITS = 8, 4096


def is_number(value: object) -> bool:
    """An int or float as JSON and URLs give them, not a bool (which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# One line per setting: what it does and what to expect from changing it: the app's tooltips and,
# with the range and default appended, the CLI's --help.
HELP = {
    "hidden": (
        f"Units per hidden layer, e.g. 128 or 512,256 (1-{MAX_LAYERS} layers of 1-{MAX_UNITS} units). "
        "More units learn finer detail but train slower."
    ),
    "activation": "Non-linearity of the hidden units. relu is fast and robust; sigmoid and tanh saturate and learn slowly.",
    "init": "How the starting weights are drawn. he suits relu, xavier suits tanh/sigmoid; uniform/normal are the classic tutorial schemes.",
    "optimizer": "How gradients become weight changes. adam/adamw adapt per weight and are forgiving; plain sgd needs a tuned learning rate.",
    "lr": "Step size of each update. Too high diverges, too low crawls; adam likes about 0.001, sgd about 0.1.",
    "momentum": "For momentum/nesterov: how much of the previous step carries over (0.9 is typical).",
    "weight_decay": "For adamw: shrinks weights a little every step (times the learning rate), a gentle regularizer.",
    "schedule": "How the learning rate changes over the run: constant, step (drops every few epochs) or cosine (glides to zero).",
    "warmup_epochs": "Epochs over which the learning rate ramps up from zero, which steadies the first steps.",
    "step_epochs": "For the step schedule: epochs between learning-rate drops.",
    "gamma": "For the step schedule: factor applied at each drop (0.5 halves the rate).",
    "batch_size": "Images per update. Small batches update often but noisily; the full set (60000) is slow full-batch descent.",
    "epochs": "Passes over the training images. More epochs fit better until the network starts memorizing.",
    "l2": "L2 penalty on the weights, added to the loss. Small values (1e-4) curb overfitting; large ones underfit.",
    "dropout": "Share of hidden units switched off at random in each step; fights overfitting (0.2-0.3 is typical).",
    "input_dropout": "Share of input pixels switched off at random in each step; a mild augmentation.",
    "shift": "Moves each training image by up to this many pixels each time it is shown (0 = off). "
    "It did not help an MLP here: on the best recipe, 1 px lowered validation "
    "accuracy from 90.7% to 89.6%.",
    "flip": "Mirrors half the training images left-right at random each time they are shown "
    "(clothes look much the same mirrored). On the best recipe it changed validation accuracy little "
    "(90.7% to 90.5%).",
    "drawings": "Share of training images shown as a drawing instead (a filled silhouette or an outline, "
    "as people draw on the Predict page); teaches the network to read drawings. Renders every "
    "training image once before the first run (cached afterwards).",
    "label_smoothing": "Trains towards 90% instead of 100% certainty (at 0.1), which often generalizes better.",
    "preprocessing": "scale maps pixels to 0-1; standardize centres each pixel on its training mean; l2 gives each image unit length.",
    "val_fraction": "Share of the 60,000 training images held out to watch for overfitting (0 trains on all).",
    "seed": "Fixes all randomness: the same seed and settings give the same run, bit for bit.",
    "patience": "Early stopping: stop after this many epochs without validation improvement (0 = never).",
    "restore_best": "With early stopping, go back to the weights of the best validation epoch.",
    "train_subset": "Train on this many images only (0 = all): quicker runs for experiments.",
}


@dataclass
class TrainConfig:
    """Every hyperparameter of a run; the defaults are the fast preset."""

    hidden: list[int] = field(default_factory=lambda: [256])
    activation: str = "relu"
    init: str = "he"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # momentum / nesterov only
    weight_decay: float = 0.0  # adamw only: decoupled decay per step, times lr
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    step_epochs: int = 10  # step schedule: multiply by gamma every step_epochs
    gamma: float = 0.5
    batch_size: int = 128
    epochs: int = 30
    l2: float = 0.0
    dropout: float = 0.2
    input_dropout: float = 0.0
    shift: int = 0  # random shift of each training image, px
    flip: bool = False  # random left-right mirror images
    drawings: float = 0.0  # share of training images shown as drawings (silhouette or outline)
    label_smoothing: float = 0.0
    preprocessing: str = "scale"
    val_fraction: float = 0.1
    seed: int = 0
    patience: int = 0  # early stopping after this many epochs without improvement; 0 = off
    restore_best: bool = True
    train_subset: int = 0  # train on a stratified subset of this many images; 0 = all

    def validate(self) -> TrainConfig:
        """Raise ConfigError naming the first bad setting; return self when all are valid."""
        if not isinstance(self.hidden, (list, tuple)) or not 1 <= len(self.hidden) <= MAX_LAYERS:
            raise ConfigError(f"hidden: give 1 to {MAX_LAYERS} hidden layer sizes, e.g. 128 or 512,256")
        for units in self.hidden:
            if not isinstance(units, int) or isinstance(units, bool) or not 1 <= units <= MAX_UNITS:
                raise ConfigError(f"hidden: each layer needs 1 to {MAX_UNITS} units, got {units!r}")
        for name in ("flip", "restore_best"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}: expected true or false, got {getattr(self, name)!r}")
        for name, options in CHOICES.items():
            if getattr(self, name) not in options:
                raise ConfigError(f"{name}: {getattr(self, name)!r} is not one of {', '.join(options)}")
        for name, (low, high, inclusive) in RANGES.items():
            value = getattr(self, name)
            if not is_number(value) or value != value:
                raise ConfigError(f"{name}: expected a number, got {value!r}")
            if isinstance(low, int) and not float(value).is_integer():
                raise ConfigError(f"{name}: expected a whole number, got {value!r}")
            if not ((low <= value) if inclusive else (low < value)) or value > high:
                bracket = "[" if inclusive else "("
                raise ConfigError(f"{name}: {value!r} is outside the allowed range {bracket}{low}, {high}]")
            setattr(self, name, int(value) if isinstance(low, int) else float(value))
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Build from a dict (e.g. a model file's meta or URL parameters), ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in values.items() if k in known})
        if isinstance(cfg.hidden, (list, tuple)):
            whole = [int(h) if isinstance(h, float) and h.is_integer() else h for h in cfg.hidden]
            cfg.hidden = list(whole)
        return cfg.validate()


PRESETS: dict[str, TrainConfig] = {
    # The defaults: see PRESET_DESCRIPTIONS.
    "fast": TrainConfig(),
    # The recipe of the shipped default weights (see README for its figures).
    "best": TrainConfig(
        hidden=[1024, 512],
        optimizer="adamw",
        weight_decay=5e-4,
        warmup_epochs=1.0,
        epochs=60,
        dropout=0.3,
        input_dropout=0.1,
        drawings=0.3,  # reads drawings (outlines 36% -> 87%) at no cost to the test accuracy
        label_smoothing=0.1,
        preprocessing="standardize",
        val_fraction=0.0,
    ),
    # Classic from-scratch tutorial recipes, as they are: one crawls, one works well.
    "tutorial_gelu_10_fullbatch": TrainConfig(
        hidden=[10],
        activation="gelu",
        init="uniform",
        optimizer="sgd",
        lr=0.1,
        schedule="constant",
        batch_size=60000,
        epochs=100,
        dropout=0.0,
    ),
    "tutorial_sigmoid_128_lr1": TrainConfig(
        hidden=[128],
        activation="sigmoid",
        init="normal",
        optimizer="sgd",
        lr=1.0,
        schedule="constant",
        batch_size=32,
        epochs=10,
        dropout=0.0,
    ),
    # Classic failures, to see what they look like.
    "stall_deep_sigmoid": TrainConfig(
        hidden=[128, 128, 128],
        activation="sigmoid",
        init="normal",
        optimizer="sgd",
        lr=0.1,
        schedule="constant",
        epochs=10,
        dropout=0.0,
    ),
    "diverge_lr_too_high": TrainConfig(optimizer="sgd", lr=10.0, schedule="constant"),
}


# The Train page's preset buttons: short, the outcome in brackets.
PRESET_LABELS: dict[str, str] = {
    "fast": "Fast (~90%)",
    "best": "Best recipe (~91%)",
    "tutorial_gelu_10_fullbatch": "Tutorial: 10 GELU units, full batch (crawls)",
    "tutorial_sigmoid_128_lr1": "Tutorial: 128 sigmoid units, lr 1 (works)",
    "stall_deep_sigmoid": "Failure: stalls (vanishing gradients)",
    "diverge_lr_too_high": "Failure: diverges (learning rate 10)",
}

# What each preset is, the recipe it reproduces and what a run of it gives on the real data (the
# slow test tests/training/test_presets.py checks each outcome): the Train page's preset tooltips.
# No durations: they depend on the machine (see estimate.py; the README's figures say where
# they were measured).
PRESET_DESCRIPTIONS: dict[str, str] = {
    "fast": "784-256-10 relu with dropout 0.2, Adam (learning rate 0.001) and cosine decay, batch 128, "
    "30 epochs: the quickest good model, for watching a network learn live. About 90% test accuracy.",
    "best": "784-1024-512-10 relu with AdamW, dropout, input dropout, label smoothing and standardized inputs, "
    "60 epochs on all 60,000 images, 30% of them shown as drawings (silhouettes and outlines): the recipe of the "
    "shipped model, about 91% test accuracy, and it reads drawings on the Predict page (about 87% of outlines "
    "and silhouettes made from test images).",
    "tutorial_gelu_10_fullbatch": "A classic from-scratch tutorial recipe: 10 GELU units, 'uniform' init, plain "
    "gradient descent (learning rate 0.1) on the whole training set at once, 100 epochs. That is one step per "
    "epoch, so it crawls: near chance (under 20%) for its first 17 epochs, about 59% test accuracy after all 100.",
    "tutorial_sigmoid_128_lr1": "The classic from-scratch coursework recipe: 128 sigmoid units, small 'normal' "
    "init, plain SGD with learning rate 1, batch 32, 10 epochs. Sigmoid units learn well at such a high rate: "
    "about 87% test accuracy.",
    "stall_deep_sigmoid": "A classic failure, vanishing gradients: three layers of 128 sigmoid units started "
    "with tiny weights ('normal' init, 0.01) and plain SGD (learning rate 0.1). Every unit says about 0.5 "
    "whatever the image, and each sigmoid layer passes back at most a quarter of the gradient it gets, so "
    "almost nothing reaches the lower layers: accuracy stays at chance (10%) for all 10 epochs. With 'xavier' "
    "init, scaled to the layer size, the same network learns.",
    "diverge_lr_too_high": "A classic failure, a learning rate far too high: the fast preset's network with "
    "plain SGD at learning rate 10 (about 0.1 is usual). The first steps overshoot so far that the loss "
    "explodes within a few batches; training stops as diverged and keeps the starting weights (accuracy near "
    "chance).",
}


def changed_settings(cfg: TrainConfig) -> dict:
    """The settings of ``cfg`` that differ from the defaults, in field order: for links and commands."""
    default = TrainConfig().to_dict()
    return {key: value for key, value in cfg.to_dict().items() if value != default[key]}


def parse_hidden(text: str) -> list[int]:
    """'512,256' (commas or spaces) -> [512, 256]; the sizes' ranges are checked by TrainConfig.validate()."""
    parts = [p for p in str(text).replace(" ", ",").split(",") if p]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if not sizes:
        raise ConfigError(f"hidden: expected layer sizes like 128 or 512,256, got {text!r}")
    return sizes


def to_query(cfg: TrainConfig) -> dict[str, str]:
    """URL parameters for the settings that differ from the defaults (a shareable link)."""
    return {
        key: ",".join(map(str, value)) if isinstance(value, list) else str(value)
        for key, value in changed_settings(cfg).items()
    }


def from_query(params: dict[str, str]) -> tuple[TrainConfig, list[str]]:
    """Settings from URL parameters; bad or unknown values fall back to defaults, with notes why."""
    values, problems = TrainConfig().to_dict(), []
    types = {f.name: type(getattr(TrainConfig(), f.name)) for f in fields(TrainConfig)}
    for key, text in params.items():
        if key not in types:
            continue
        try:
            if types[key] is list:
                value = parse_hidden(text)
            elif types[key] is bool:
                value = str(text).lower() in ("1", "true", "yes")
            elif types[key] is int:
                value = int(float(text))
            elif types[key] is float:
                value = float(text)
            else:
                value = str(text)
            TrainConfig.from_dict({**values, key: value})
            values[key] = value
        except (ValueError, ConfigError) as e:
            problems.append(f"{key}={text!r} ignored: {e}")
    return TrainConfig.from_dict(values), problems
