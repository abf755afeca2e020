"""Command-line interface: ``python -m model train | evaluate | predict``.

A thin layer over the engine: the ``train`` flags are generated from ``TrainConfig``'s fields,
``RANGES`` and ``CHOICES``; training, testing, saving, loading and image handling are the
engine's. Every ``FashionError`` is shown as ``error: <message>`` (exit 1; 2 for bad settings).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import signal
import sys
import typing
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TextIO

import numpy as np

from model.datasets.fashion_mnist import CLASS_NAMES, ENV_VAR, load_fashion_mnist
from model.errors import ConfigError, FashionError, ImageError
from model.model_file import MODELS_ENV_VAR, load_model, models_dir, save_model
from model.text import format_duration, format_probability
from model.training.config import CHOICES, HELP, PRESETS, RANGES, TrainConfig, parse_hidden
from model.training.estimate import estimate_render_seconds, estimate_run_seconds
from model.training.evaluation import evaluate, top_k
from model.training.pipeline import finish
from model.training.trainer import Progress, Trainer

# scikit-learn (slow to import) is loaded by evaluate() when it first runs, and Pillow by
# predict: --help and usage errors answer at once.

PROG = "python -m model"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

ABBREVIATIONS = {  # confusion-matrix column headers
    "T-shirt/top": "Tshirt",
    "Trouser": "Trousr",
    "Pullover": "Pullov",
    "Dress": "Dress",
    "Coat": "Coat",
    "Sandal": "Sandal",
    "Shirt": "Shirt",
    "Sneaker": "Sneakr",
    "Bag": "Bag",
    "Ankle boot": "Boot",
}


# ---------------------------------------------------------------------------- the parser


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: ...`` plus a hint, exit 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"error: {message}\n(run '{self.prog} --help' for the options)\n")


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's wrapping, except that a "range (0, 100]" stays on one line."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        glued = re.sub(r"range \S+ \S+", lambda m: m.group().replace(" ", "\0"), text)
        return [line.replace("\0", " ") for line in super()._split_lines(glued, width)]


def _hidden_sizes(text: str) -> list[int]:
    try:
        return parse_hidden(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("hidden: ")) from None


def _range_text(name: str) -> str:
    low, high, inclusive = RANGES[name]
    return f"range {'[' if inclusive else '('}{_default_text(low)}, {_default_text(high)}]"


def _default_text(value: object) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _add_config_flags(group: argparse._ArgumentGroup) -> None:
    """One flag per TrainConfig field, typed from its annotation; default None = not given.

    The help is the app's tooltip for the setting (``config.HELP``) plus its range and default.
    """
    hints = typing.get_type_hints(TrainConfig)
    default = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        hint, flag = hints[f.name], "--" + f.name.replace("_", "-")
        text = HELP.get(f.name, f.name.replace("_", " ").capitalize() + ".")
        limits = f"{_range_text(f.name)}; " if f.name in RANGES else ""
        text += f" ({limits}default: {_default_text(getattr(default, f.name))})"
        text = text.replace("%", "%%")
        kwargs: dict = {"dest": f.name, "default": None, "help": text}
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(hint) is list:
            kwargs.update(type=_hidden_sizes, metavar="N[,N...]")
        elif f.name in CHOICES:
            kwargs.update(choices=list(CHOICES[f.name]), metavar="{" + ",".join(CHOICES[f.name]) + "}")
        elif hint in (int, float, str):
            kwargs.update(type=hint, metavar={int: "N", float: "X", str: "TEXT"}[hint])
        else:  # a new kind of field: pass the text through and let validate() judge it
            kwargs.update(metavar="VALUE")
        group.add_argument(flag, **kwargs)


def _preset_summary(cfg: TrainConfig) -> str:
    return f"{','.join(map(str, cfg.hidden))} {cfg.activation}, {cfg.optimizer} lr {cfg.lr:g}, {cfg.epochs} epochs"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Train, evaluate and use a NumPy neural network for Fashion-MNIST.",
        epilog=(
            "examples:\n"
            f"  {PROG} train --preset best --out models/best.npz\n"
            f"  {PROG} train --hidden 512,256 --lr 0.0005 --epochs 20\n"
            f"  {PROG} evaluate models/best.npz\n"
            f"  {PROG} predict models/best.npz photo.jpg sketch.png\n\n"
            f"Data is read from --data-dir, else ${ENV_VAR}, else a user cache folder (downloaded on first use).\n"
            f"Run '{PROG} COMMAND --help' for a command's options."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    presets = "; ".join(f"{name}: {_preset_summary(cfg)}" for name, cfg in PRESETS.items())
    train = sub.add_parser(
        "train",
        allow_abbrev=False,
        usage=f"{PROG} train [--preset NAME] [--data-dir DIR] [--out PATH] [settings...]",
        formatter_class=_HelpFormatter,
        help="train a network and save it as a .npz model file",
        description=(
            "Train a network on the Fashion-MNIST training images, test it once on the test images and "
            "save it. One line per epoch is printed; the last line is a JSON summary. Ctrl-C stops "
            "training early and still saves the weights learned so far."
        ),
    )
    run = train.add_argument_group("run options")
    run.add_argument(
        "--preset",
        choices=list(PRESETS),
        help=f"start from a preset; flags given explicitly override its values ({presets})",
    )
    _add_data_options(run)
    run.add_argument(
        "--out",
        metavar="PATH",
        help=f"where to save the model (default: <date>-<time>.npz in ${MODELS_ENV_VAR}, else in the repository's models/)",
    )
    run.add_argument("--quiet", action="store_true", help="print only the final JSON line (errors still go to stderr)")
    _add_config_flags(train.add_argument_group("training settings (defaults: the 'fast' preset)"))
    train.set_defaults(func=cmd_train, parser=train)

    ev = sub.add_parser(
        "evaluate",
        allow_abbrev=False,
        help="test a model file on the test images",
        description="Accuracy, macro F1, the per-class report and the confusion matrix on the test images.",
    )
    ev.add_argument("model", metavar="MODEL", help="a .npz model file")
    ev.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    _add_data_options(ev)
    ev.set_defaults(func=cmd_evaluate, parser=ev)

    pr = sub.add_parser(
        "predict",
        allow_abbrev=False,
        help="classify image files with a model",
        description=(
            "Print the three most likely classes of each image (PNG, JPEG, WebP, GIF, BMP, ...). Photos are "
            "converted to a 28x28 Fashion-MNIST-style input first. Exit code 1 if any image could not be used."
        ),
    )
    pr.add_argument("model", metavar="MODEL", help="a .npz model file")
    pr.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    pr.add_argument(
        "--json", action="store_true", help="print a JSON list: {file, top3: [{class, probability}], error}"
    )
    pr.set_defaults(func=cmd_predict, parser=pr)
    return parser


def _add_data_options(group: argparse._ActionsContainer) -> None:
    group.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"folder with the Fashion-MNIST files (default: ${ENV_VAR}, else a user cache folder)",
    )
    group.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        help="fail instead of downloading the dataset when it is not found",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset (or the defaults) with the explicitly given flags applied, validated."""
    base = PRESETS[args.preset] if getattr(args, "preset", None) else TrainConfig()
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    given = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    return TrainConfig.from_dict({**base.to_dict(), **given})  # from_dict copies and validates


# ----------------------------------------------------------------------------- output


class StatusLine:
    """A single \\r-updated line on a terminal (nothing at all when the stream is not one)."""

    def __init__(self, stream: TextIO, enabled: bool):
        self.stream, self.enabled, self.width = stream, enabled, 0

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
        text = text[: max(columns or 80, 20) - 1]
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def clear(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _bar(fraction: float, width: int = 24) -> str:
    done = int(round(min(max(fraction, 0.0), 1.0) * width))
    return "[" + "#" * done + "-" * (width - done) + "]"


def epoch_line(p: Progress, seconds: float) -> str:
    """`epoch  3/30  train loss 0.3012 acc 89.10%  val loss 0.3300 acc 88.20%  lr 0.00095  4.1s`

    Both losses are the plain cross-entropy; with label smoothing or L2 the objective the
    optimizer minimised follows (`objective 0.5124`, `incl. L2 0.0311`).
    """
    width = len(str(p.epochs))
    line = f"epoch {p.epoch:>{width}}/{p.epochs}  train loss {p.train_loss:.4f} acc {p.train_acc:.2%}"
    if p.val_loss is not None and p.val_acc is not None:
        line += f"  val loss {p.val_loss:.4f} acc {p.val_acc:.2%}"
    if p.objective is not None and p.objective != p.train_loss:
        line += f"  objective {p.objective:.4f}"
        if p.l2_penalty:
            line += f" incl. L2 {p.l2_penalty:.4f}"
    return line + f"  lr {p.lr:.3g}  {seconds:.1f}s"


def _batch_status(p: Progress, batch_size: int) -> str:
    """`epoch 3/30 [######----]  45%  ETA 0:04 (run 1:23)  95,075 ex/s  loss 0.371`"""
    done = p.batch / max(p.batches, 1)
    left = (p.batches - p.batch) * batch_size / p.examples_per_sec if p.examples_per_sec > 0 else 0.0
    return (
        f"epoch {p.epoch}/{p.epochs} {_bar(done, 10)} {done:4.0%}  ETA {format_duration(left)} (run {format_duration(p.eta)})  "
        f"{p.examples_per_sec:,.0f} ex/s  loss {p.train_loss:.3f}"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], sep: str = "  ") -> list[str]:
    """Text table: first column left-aligned, the others right-aligned."""
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return [
        sep.join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
        for r in cells
    ]


def abbreviate(name: str, width: int = 6) -> str:
    """A short column header for a class name, e.g. 'Ankle boot' -> 'Boot'."""
    if name in ABBREVIATIONS:
        return ABBREVIATIONS[name]
    word = name.split("/")[0].split()[-1] if name.split() else name
    return word.replace("-", "")[:width]


def _count(n: int, noun: str, plural: str = "") -> str:
    """'1 epoch', '30 epochs', '422 batches' (with plural='batches')."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def _about(seconds: float) -> str:
    """An estimated duration: 'under 1 s', 'about 25 s', 'about 5:17 (m:ss)', 'about 1:09:23 (h:mm:ss)'."""
    if seconds < 1:
        return "under 1 s"
    if seconds < 100:
        return f"about {seconds:.0f} s"
    return f"about {format_duration(seconds)} ({'h:mm:ss' if seconds >= 3599.5 else 'm:ss'})"


def _out(line: str = "") -> None:
    print(line, flush=True)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- commands


def _load_data(args: argparse.Namespace, status: StatusLine):
    def progress(fraction: float, message: str) -> None:
        status.show(f"{message} {_bar(fraction)} {fraction:4.0%}")

    try:
        return load_fashion_mnist(args.data_dir, download=args.download, progress=progress)
    finally:
        status.clear()


def _default_out() -> Path:
    """<models folder>/<date>-<time>.npz: the folder the app lists saved models from."""
    folder, stamp = models_dir(), datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = folder / f"{stamp}.npz", 2
    while path.exists():
        path, n = folder / f"{stamp}-{n}.npz", n + 1
    return path


def _check_writable(path: Path) -> None:
    """Refuse an unusable --out before spending minutes training (save_model makes the folders)."""
    if path.is_dir():
        raise ConfigError(f"--out: {path} is a folder; give a file name such as {path / 'model.npz'}.")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out: cannot create {path}: {parent} is not a writable folder.")


@contextmanager
def _ctrl_c_stops(trainer: Trainer, notify: Callable[[], None]) -> Iterator[None]:
    """The first Ctrl-C asks the trainer to stop after the current batch; a second one aborts.

    Outside the main thread (the CLI called from a program's worker thread) Python cannot
    install signal handlers, and Ctrl-C keeps its usual meaning.
    """

    def handler(signum, frame) -> None:
        trainer.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        notify()

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # "signal only works in main thread of the main interpreter"
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_train(args: argparse.Namespace, command: str) -> int:
    cfg = config_from_args(args)
    out = Path(args.out) if args.out else _default_out()
    _check_writable(out)
    say = (lambda line: None) if args.quiet else _out
    note = _err if args.quiet else _out  # run messages: on stdout with the log, else stderr
    status = StatusLine(sys.stderr, enabled=not args.quiet and _isatty(sys.stderr))

    dataset = _load_data(args, status)
    say(f"data   {dataset.source}: {len(dataset.y_train)} training, {len(dataset.y_test)} test images")
    if cfg.drawings:
        say("prep   rendering the training images as drawings (once; cached for later runs)")

    def rendering(done: int, total: int) -> None:
        status.show(f"drawings {_bar(done / max(total, 1))} {done:,}/{total:,}")

    trainer = Trainer(cfg, dataset.x_train, dataset.y_train, on_render=rendering)
    status.clear()
    val = f", {len(trainer.y_val)} held out for validation" if len(trainer.y_val) else ""
    say(f"model  {trainer.net.describe()}, {trainer.net.n_params:,} parameters")
    say(
        f"train  {trainer.n} images{val}; {cfg.optimizer} lr {cfg.lr:g} ({cfg.schedule}), "
        f"{_count(cfg.epochs, 'epoch')} of {_count(trainer.batches, 'batch', 'batches')} of {trainer.batch_size}"
    )
    if not args.quiet:
        estimate = _about(estimate_run_seconds(cfg, len(dataset.y_train)))
        if cfg.drawings:
            estimate += f", plus {_about(estimate_render_seconds(cfg, len(dataset.y_train)))} to draw the images"
        say(f"time   {estimate} on this machine, estimated from a short speed probe")

    shown: set[str] = set()
    warned = [False]  # a warning was printed as it began (its text then follows the run, e.g. its epoch)
    last_elapsed = [0.0]

    def show_message(message: str) -> None:
        if message and message not in shown:
            shown.add(message)
            status.clear()
            note(message)

    def callback(p: Progress) -> None:
        if p.event == "batch":
            status.show(_batch_status(p, trainer.batch_size))
            return
        status.clear()
        if p.event in ("epoch", "early_stop"):
            say(epoch_line(p, p.elapsed - last_elapsed[0]))
            last_elapsed[0] = p.elapsed
        if p.event != "done":
            show_message(p.message)
            warned[0] |= p.message in trainer.warnings

    def on_ctrl_c() -> None:
        status.clear()
        _err("Stopping after this batch and saving what was learned (press Ctrl-C again to quit without saving)...")

    with _ctrl_c_stops(trainer, on_ctrl_c):
        trainer.run(callback)
        status.clear()
        for message in [] if warned[0] else trainer.warnings:  # still true at the end, not yet printed
            show_message(message)
        net, ev = finish(trainer, dataset, command)
        try:
            save_model(net, out)
        except OSError as e:
            raise FashionError(f"Cannot save the model to {out}: {e.strerror or e}.") from None

    meta = net.meta
    say(
        f"test   accuracy {ev.accuracy:.2%}  macro F1 {ev.macro_f1:.4f}  "
        f"({_count(meta['epochs_trained'], 'epoch')}, {meta['train_seconds']:.1f}s, {trainer.status})"
    )
    say(f"saved  {out}")
    summary = {
        **ev.summary(),
        "train_seconds": meta["train_seconds"],
        "epochs": meta["epochs_trained"],
        "model": str(out),
        "status": trainer.status,
    }
    _out(json.dumps(summary))
    return EXIT_OK


def _report_rows(report: list[dict]) -> list[list[str]]:
    rows = []
    for r in report:
        if r["class"] == "macro avg":
            rows.append([""] * 5)
        rows.append([r["class"], f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['f1']:.4f}", str(r["support"])])
    return rows


def cmd_evaluate(args: argparse.Namespace, command: str) -> int:
    net = load_model(args.model, name=args.model)
    status = StatusLine(sys.stderr, enabled=not args.json and _isatty(sys.stderr))
    dataset = _load_data(args, status)
    ev = evaluate(net, dataset.x_test, dataset.y_test, CLASS_NAMES)
    if args.json:
        result = {
            "model": args.model,
            "architecture": net.describe(),
            "test_images": int(len(dataset.y_test)),
            **ev.summary(),
            "report": [{**r, **{k: round(r[k], 4) for k in ("precision", "recall", "f1")}} for r in ev.report],
            "classes": list(CLASS_NAMES),
            "confusion": ev.confusion.astype(int).tolist(),
        }
        _out(json.dumps(result))
        return EXIT_OK
    _out(f"model     {args.model}  {net.describe()}")
    if net.meta.get("command"):
        _out(f"trained   {net.meta['command']}")
    _out(f"test set  {len(dataset.y_test)} images ({dataset.source})")
    _out()
    _out(f"accuracy  {ev.accuracy:.2%}")
    _out(f"macro F1  {ev.macro_f1:.4f}")
    _out()
    for line in _table(["", "precision", "recall", "f1-score", "support"], _report_rows(ev.report)):
        _out(line)
    _out()
    _out("confusion matrix (rows: true class, columns: predicted class)")
    header = [""] + [abbreviate(c) for c in CLASS_NAMES]
    rows = [[name, *map(int, row)] for name, row in zip(CLASS_NAMES, ev.confusion, strict=True)]
    for line in _table(header, rows, sep=" "):
        _out(line)
    return EXIT_OK


def _predict_one(net, path: str) -> dict:
    from model.datasets.images import preprocess_upload  # Pillow: only predict needs it

    try:
        with open(path, "rb") as f:
            pixels = preprocess_upload(f, path)
    except OSError as e:
        raise ImageError(f"'{path}' could not be read: {e.strerror or e}.") from None
    proba = net.predict_proba(pixels[np.newaxis])[0]
    return {"file": path, "top3": [{"class": c, "probability": round(p, 4)} for c, p in top_k(proba, 3)]}


def cmd_predict(args: argparse.Namespace, command: str) -> int:
    net = load_model(args.model, name=args.model)
    results, width = [], max(len(p) for p in args.images)
    for path in args.images:
        try:
            result = {**_predict_one(net, path), "error": None}
        except FashionError as e:
            result = {"file": path, "top3": [], "error": str(e)}
        results.append(result)
        if not args.json:
            if result["error"]:
                _err(f"error: {result['error']}")
            else:
                guesses = "  ".join(
                    f"{t['class']:<11} {format_probability(t['probability']):>6}" for t in result["top3"]
                )
                _out(f"{path:<{width}}  {guesses}".rstrip())
    if args.json:
        _out(json.dumps(results))
    return EXIT_ERROR if any(r["error"] for r in results) else EXIT_OK


# ------------------------------------------------------------------------------- main


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    _err(f"warning: {message}")


def recorded_command(argv: Sequence[str]) -> str:
    """The command line stored in a model file: the arguments as given, the data folder as ``DIR``.

    A folder on the machine that trained means nothing elsewhere; ``--data-dir DIR`` (or no
    ``--data-dir``, reading ``$FASHION_MNIST_DIR``) reproduces the run anywhere.
    """
    args, rest = [], list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--data-dir":
            args += [arg, "DIR"]
            rest = rest[1:]
        elif arg.startswith("--data-dir="):
            args += ["--data-dir", "DIR"]
        else:
            args.append(arg)
    return " ".join([PROG, shlex.join(args)])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (``python -m model`` exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)  # exits 2 with a one-line error on bad usage
    if extra:  # reported by the subcommand's parser, so the hint names its --help
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    command = recorded_command(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args, command)
    except ConfigError as e:
        _err(f"error: {e}\n(run '{args.parser.prog} --help' for the allowed values)")
        return EXIT_USAGE
    except FashionError as e:
        _err(f"error: {e}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("\ninterrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. piped into `head`: not an error worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
