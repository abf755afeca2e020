"""The engine on the real Fashion-MNIST files: a short training clears a floor; the shipped model keeps its promise."""

from model.datasets.fashion_mnist import load_fashion_mnist
from model.training.config import TrainConfig
from model.training.evaluation import evaluate
from model.training.pipeline import train


def test_short_training_on_real_data_clears_a_floor(real_data):
    ds = load_fashion_mnist(real_data, download=False)
    cfg = TrainConfig(hidden=[128], epochs=3, train_subset=10000, val_fraction=0.1, seed=0)
    net, ev, trainer = train(cfg, ds)
    assert trainer.status == "done" and len(trainer.history.val_acc) == 3
    assert ev.accuracy > 0.80, ev.accuracy  # chance is 10%; ~84% is typical for this budget
    assert trainer.history.val_acc[-1] > 0.78


def test_shipped_model_reaches_its_stated_accuracy(real_data, shipped_model):
    ds = load_fashion_mnist(real_data, download=False)
    net = shipped_model
    ev = evaluate(net, ds.x_test, ds.y_test)
    assert ev.accuracy >= 0.905, ev.accuracy
    assert abs(ev.accuracy - net.meta["metrics"]["test_accuracy"]) < 1e-4  # the card tells the truth
