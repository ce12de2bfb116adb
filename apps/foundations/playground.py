"""A neural-network playground: TensorFlow Playground's idea (Smilkov and Carter 2016), PyTorch under it.

A small fully connected network learns to label 2-D points while the learner watches. What it sees is
chosen by hand: input *features* (x, y, x², y², xy, sin x, sin y), then up to 6 hidden layers
``h = activation(W h_prev + b)``, then one logit per class (softmax, cross-entropy) or one number
(regression, mean squared error). Every step takes a random mini-batch of the training points, one
optimiser step (SGD or Adam, Kingma and Ba 2015; L2 as PyTorch's ``weight_decay``), then measures the
loss on all training and test points, so the two curves show over- and under-fitting as they happen.

Take it home: :func:`generate_code` writes a standalone PyTorch script that builds and trains exactly
the network on screen (same data, same initial weights, same batches: its loss matches the app's),
and :func:`save_weights` writes the trained weights as safetensors.

Live training (Play / Pause / Step / Reset, NaN detection, one run per learner) is ``shared.live``.
"""
from __future__ import annotations

import functools
import inspect
import io
import json
import math
import tempfile
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw, ImageFont
from safetensors.torch import save_file
from torch import nn

from shared import files, limits, live
from shared.checks import as_float, as_int
from shared.ui import friendly_errors, on_page_load

EDGE = 5.9  # points are kept inside this
BOX = 6.0  # the plane is [-6, 6]^2, as in TensorFlow Playground (so sin x has two periods to offer)
DATASETS = ("Circle", "XOR", "Two moons", "Spiral", "Gaussians", "Regression", "Your CSV")
TWO_CLASS_ONLY = ("XOR", "Two moons")
REGRESSION = "Regression"
YOUR_CSV = "Your CSV"
ACTIVATIONS = {"ReLU": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "GELU": nn.GELU}
OPTIMIZERS = ("Adam", "SGD")
WEIGHT_VIEWS = ("Lines (thickness = |weight|)", "Heat maps")

# Each input feature: its name on screen and the numpy expression the generated script uses.
FEATURES = {"x": "x", "y": "y", "x²": "x ** 2", "y²": "y ** 2", "xy": "x * y", "sin x": "np.sin(x)",
            "sin y": "np.sin(y)"}
_FEATURE_FNS = {
    "x": lambda x, y: x, "y": lambda x, y: y, "x²": lambda x, y: x ** 2, "y²": lambda x, y: y ** 2,
    "xy": lambda x, y: x * y, "sin x": lambda x, y: np.sin(x), "sin y": lambda x, y: np.sin(y),
}
CLASS_COLORS = np.array([[0.23, 0.45, 0.75], [0.93, 0.49, 0.19], [0.35, 0.65, 0.35], [0.6, 0.4, 0.7],
                         [0.85, 0.3, 0.35]])
POSITIVE, NEGATIVE = np.array([0.16, 0.45, 0.75]), np.array([0.93, 0.49, 0.19])  # TF Playground's blue/orange


@dataclass(frozen=True)
class PlaygroundConfig:
    """Everything that defines a run. Data and architecture need a Reset; the rest apply mid-training."""

    dataset: str = "Spiral"
    n_points: int = limits.NN_DEFAULT_POINTS
    noise: float = 0.1
    n_classes: int = 2
    train_percent: int = 70
    seed: int = 0
    features: tuple[str, ...] = ("x", "y")
    # Defaults that visibly learn the spiral within 20 s of Play on a busy 2-core machine (about 1,000 steps):
    # test accuracy 0.90-0.96 over seeds 0-3 at 1,000 steps, where 3 layers of 8 at rate 0.01 reached 0.63-0.83.
    hidden_layers: int = 2
    neurons: int = 16
    activation: str = "tanh"
    dropout: float = 0.0
    learning_rate: float = 0.03
    optimizer: str = "Adam"
    batch_size: int = 32
    l2: float = 0.0


# ---------------------------------------------------------------------------------------------
# Data: each generator is plain numpy, and its source is copied into the generated script
# ---------------------------------------------------------------------------------------------

def circle(n, n_classes, noise, rng):
    """Concentric rings, one per class, inside a disc of radius 5."""
    y = rng.integers(0, n_classes, n)
    radius = 5 * (y + rng.uniform(0.1, 0.9, n)) / n_classes
    angle = rng.uniform(0, 2 * np.pi, n)
    X = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    return X + rng.normal(0, 2.5 * noise, (n, 2)), y


def xor(n, n_classes, noise, rng):
    """Two classes by the sign of x * y: no straight line separates them."""
    X = rng.uniform(-5, 5, (n, 2))
    X += np.sign(X) * 0.3  # a small gap around the axes
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X + rng.normal(0, 2.5 * noise, (n, 2)), y


def two_moons(n, n_classes, noise, rng):
    """scikit-learn's two interleaved half circles, scaled to the plane."""
    from sklearn.datasets import (
        make_moons,  # sklearn loads in ~1.5 s: only when first used
    )

    X, y = make_moons(n, noise=noise / 2, random_state=int(rng.integers(2**31)))
    return (X - [0.5, 0.25]) * 3.5, y


def spiral(n, n_classes, noise, rng):
    """One spiral arm per class, winding out from the centre."""
    y = rng.integers(0, n_classes, n)
    s = rng.uniform(0, 1, n)
    angle = 1.75 * 2 * np.pi * s + 2 * np.pi * y / n_classes
    radius = 5 * s
    X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], 1)
    return X + rng.normal(0, 1.5 * noise, (n, 2)), y


def gaussians(n, n_classes, noise, rng):
    """One round cloud per class, centres evenly spaced on a circle of radius 3."""
    y = rng.integers(0, n_classes, n)
    angle = 2 * np.pi * y / n_classes + np.pi / 4
    centres = 3 * np.stack([np.cos(angle), np.sin(angle)], 1)
    return centres + rng.normal(0, 0.6 + 3 * noise, (n, 2)), y


def regression(n, n_classes, noise, rng):
    """A number to predict, not a class: hills and valleys, sin(x / 2) * cos(y / 2), plus noise."""
    X = rng.uniform(-5, 5, (n, 2))
    y = np.sin(X[:, 0] / 2) * np.cos(X[:, 1] / 2)
    return X, y + rng.normal(0, noise, n)


GENERATORS = {"Circle": circle, "XOR": xor, "Two moons": two_moons, "Spiral": spiral, "Gaussians": gaussians,
              "Regression": regression}


@dataclass
class Data:
    """Points and targets split once: ``X_*`` float32 ``(N, 2)``; ``y_*`` int64 class ids or float32 values."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int  # 0 for regression

    @property
    def regression(self) -> bool:
        return self.n_classes == 0


def make_data(config: PlaygroundConfig, points: np.ndarray | None = None) -> Data:
    """The dataset of ``config`` (or the learner's CSV ``points``, ``(N, 3)`` x, y, label), split by the seed.

    The split is a seeded permutation: the first ``train_percent`` % train, the rest test.
    Raises:
        ValueError: "Your CSV" without points, too few points for the split.
    """
    rng = np.random.default_rng(config.seed)
    if config.dataset == YOUR_CSV:
        if points is None or len(points) == 0:
            raise ValueError("Upload a CSV first (x,y,label per line), or pick another dataset.")
        X, y = points[:, :2], points[:, 2]
        n_classes = csv_classes(y)
    else:
        n_classes = 2 if config.dataset in TWO_CLASS_ONLY else config.n_classes
        X, y = GENERATORS[config.dataset](config.n_points, n_classes, config.noise, rng)
        n_classes = 0 if config.dataset == REGRESSION else n_classes
    X = np.clip(X, -EDGE, EDGE)  # noise must not push points off the plane
    order = rng.permutation(len(X))
    n_train = int(round(len(X) * config.train_percent / 100))
    if n_train < 2 or len(X) - n_train < 2:
        raise ValueError(f"{len(X)} points leave too few for training or testing at {config.train_percent} %.")
    X = X.astype(np.float32)
    y = y.astype(np.float32) if n_classes == 0 else y.astype(np.int64)
    train, test = order[:n_train], order[n_train:]
    return Data(X[train], y[train], X[test], y[test], n_classes)


def csv_classes(labels: np.ndarray) -> int:
    """Number of classes in a CSV's label column, or 0 when the labels are not whole numbers (regression)."""
    if not np.all(np.equal(np.mod(labels, 1), 0)):
        return 0
    return int(labels.max()) + 1


def parse_csv(data: bytes | str | Path) -> np.ndarray:
    """Read the learner's CSV of ``x,y,label`` rows (a header row is optional) into ``(N, 3)`` float64.

    Whole-number labels 0..4 make a classification task; any other number makes a regression.
    Points are scaled to fit the plane (centred, aspect kept) when any falls outside it.

    Raises:
        ValueError: too big, not three columns, text where a number should be (the message names the
            row and column), a missing value, a single class, too few or too many rows.
    """
    if isinstance(data, (str, Path)):
        path = Path(data)
        if path.stat().st_size > limits.NN_CSV_MAX_BYTES:
            raise ValueError(f"The file is {path.stat().st_size / 1000:,.0f} kB; the limit is "
                             f"{limits.NN_CSV_MAX_BYTES / 1000:,.0f} kB ({limits.NN_POINTS_MAX:,} rows).")
        data = path.read_bytes()
    if len(data) > limits.NN_CSV_MAX_BYTES:
        raise ValueError(f"The file is {len(data) / 1000:,.0f} kB; the limit is {limits.NN_CSV_MAX_BYTES / 1000:,.0f} kB.")
    text = data.decode("utf-8-sig", errors="replace") if data else ""
    if not text.strip():
        raise ValueError("The file is empty. Upload a CSV with one point per line: x,y,label.")
    try:
        table = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as e:
        raise ValueError(f"This is not a readable CSV file ({e}).") from e
    if table.shape[1] != 3:
        raise ValueError(f"The CSV needs three columns, x,y,label; this one has {table.shape[1]}.")
    numeric = pd.to_numeric(table.iloc[0], errors="coerce").notna().all()
    first = 1
    if not numeric:
        table, first = table.iloc[1:], 2  # a header row
    if len(table) > limits.NN_POINTS_MAX:
        raise ValueError(f"The CSV has {len(table):,} rows; the limit is {limits.NN_POINTS_MAX:,}.")
    if len(table) < limits.NN_POINTS_MIN:
        raise ValueError(f"The CSV has {len(table)} rows; training and testing need at least {limits.NN_POINTS_MIN}.")
    values = table.apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce"))
    bad = values.isna() | ~np.isfinite(values)
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raw = table.iat[row, col].strip()
        what = "is missing" if not raw else f"{raw[:30]!r} is not a number"
        raise ValueError(f"Row {row + first}, column {['x', 'y', 'label'][col]}: {what}.")
    points = values.to_numpy(dtype=np.float64).copy()
    labels = points[:, 2]
    n_classes = csv_classes(labels)
    if n_classes:
        if labels.min() < 0 or n_classes > limits.NN_CLASSES_MAX:
            raise ValueError(f"Class labels must be whole numbers from 0 to {limits.NN_CLASSES_MAX - 1} "
                             f"(or any decimals, for a regression); found {labels.min():g} to {labels.max():g}.")
        if len(np.unique(labels)) < 2:
            raise ValueError(f"Every row has label {labels[0]:g}: with one class there is nothing to learn. "
                             "Add points of another class.")
    xy = points[:, :2]
    if np.abs(xy).max() > BOX:
        centre = (xy.max(0) + xy.min(0)) / 2
        half = max(float((xy.max(0) - xy.min(0)).max()) / 2, 1e-9)
        points[:, :2] = (xy - centre) * (0.9 * BOX / half)
    return points


def feature_matrix(X: np.ndarray, features: tuple[str, ...]) -> np.ndarray:
    """``(N, len(features))`` float32: the chosen features of points ``X`` ``(N, 2)``, in the given order."""
    x, y = X[:, 0], X[:, 1]
    return np.stack([_FEATURE_FNS[f](x, y) for f in features], 1).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The network and its training
# ---------------------------------------------------------------------------------------------

def build_network(n_inputs: int, hidden_layers: int, neurons: int, activation: str, dropout: float,
                  n_outputs: int) -> nn.Sequential:
    """``Linear -> activation [-> Dropout]`` per hidden layer, then a ``Linear`` to ``n_outputs`` logits.

    ``hidden_layers == 0`` is a linear model (logistic or linear regression).
    """
    layers: list[nn.Module] = []
    width = n_inputs
    for _ in range(hidden_layers):
        layers += [nn.Linear(width, neurons), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = neurons
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def init_weights(model, generator):
    """PyTorch's default initialisation of every Linear layer (He-uniform weights, uniform biases), drawn
    from ``generator``, so a seed fixes the starting weights however many other models are being made."""
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            bound = 1 / math.sqrt(layer.in_features)
            nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def make_optimizer(name: str, params, learning_rate: float, l2: float) -> torch.optim.Optimizer:
    if name == "SGD":
        return torch.optim.SGD(params, lr=learning_rate, weight_decay=l2)
    return torch.optim.Adam(params, lr=learning_rate, weight_decay=l2)


class PlaygroundTrainer:
    """One learner's network, optimiser and data; :meth:`train_step` is one mini-batch step (``shared.live``)."""

    def __init__(self, config: PlaygroundConfig, data: Data):
        self.config, self.data = config, data
        self.generator = torch.Generator().manual_seed(config.seed)
        n_outputs = data.n_classes or 1
        self.model = init_weights(build_network(len(config.features), config.hidden_layers, config.neurons,
                                                config.activation, config.dropout, n_outputs), self.generator)
        self.X_train = torch.from_numpy(feature_matrix(data.X_train, config.features))  # (N_train, F)
        self.X_test = torch.from_numpy(feature_matrix(data.X_test, config.features))  # (N_test, F)
        self.y_train, self.y_test = torch.from_numpy(data.y_train), torch.from_numpy(data.y_test)
        self.optimizer = make_optimizer(config.optimizer, self.model.parameters(), config.learning_rate, config.l2)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.data.regression:
            return nn.functional.mse_loss(outputs[:, 0], targets)
        return nn.functional.cross_entropy(outputs, targets)

    def train_step(self) -> dict[str, float]:
        n = len(self.X_train)
        batch = torch.randint(0, n, (min(self.config.batch_size, n),), generator=self.generator)
        self.model.train()
        loss = self.loss(self.model(self.X_train[batch]), self.y_train[batch])
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return self.evaluate()

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Loss on every training and test point (dropout off); test accuracy for classification."""
        self.model.eval()
        test_out = self.model(self.X_test)
        metrics = {"train loss": float(self.loss(self.model(self.X_train), self.y_train)),
                   "test loss": float(self.loss(test_out, self.y_test))}
        if not self.data.regression:
            metrics["test accuracy"] = float((test_out.argmax(1) == self.y_test).float().mean())
        return metrics

    def configure(self, *values) -> None:
        """Apply the settings that may change mid-training: learning rate, optimiser, batch size, L2."""
        new = config_from(*values)
        c = self.config
        if new.optimizer != c.optimizer:
            self.optimizer = make_optimizer(new.optimizer, self.model.parameters(), new.learning_rate, new.l2)
        for group in self.optimizer.param_groups:
            group["lr"], group["weight_decay"] = new.learning_rate, new.l2
        self.config = PlaygroundConfig(**{**asdict(c), "learning_rate": new.learning_rate, "optimizer": new.optimizer,
                                          "batch_size": new.batch_size, "l2": new.l2})

    @torch.no_grad()
    def predict(self, X: np.ndarray) -> np.ndarray:
        """``(N, classes)`` probabilities, or ``(N,)`` predicted values for a regression, at points ``X``."""
        self.model.eval()
        out = self.model(torch.from_numpy(feature_matrix(X, self.config.features)))
        return out[:, 0].numpy() if self.data.regression else torch.softmax(out, 1).numpy()

    @torch.no_grad()
    def activations(self, X: np.ndarray) -> list[np.ndarray]:
        """Every layer's values at points ``X``: ``[features (N, F), hidden 1 (N, H), ..., outputs (N, C)]``.

        Hidden values are taken after the activation; the outputs are probabilities (or the predicted value).
        """
        self.model.eval()
        h = torch.from_numpy(feature_matrix(X, self.config.features))
        layers = [h.numpy()]
        for module in self.model[:-1]:
            h = module(h)
            if not isinstance(module, (nn.Linear, nn.Dropout)):
                layers.append(h.numpy())
        out = self.model[-1](h)
        layers.append(out.numpy() if self.data.regression else torch.softmax(out, 1).numpy())
        return layers

    def linear_layers(self) -> list[nn.Linear]:
        return [m for m in self.model if isinstance(m, nn.Linear)]


def config_from(dataset, n_points, noise, n_classes, train_percent, seed, features, hidden_layers, neurons,
                activation, dropout, learning_rate, optimizer, batch_size, l2, *_view) -> PlaygroundConfig:
    """Check the UI's values against ``shared.limits`` and make a :class:`PlaygroundConfig`.

    Raises:
        ValueError: a value out of bounds, an unknown choice, or no input feature.
    """
    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}.")
    features = tuple(f for f in FEATURES if f in (features or ()))
    if not features:
        raise ValueError("Tick at least one input feature: the network needs something to look at.")
    if activation not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimiser {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}.")
    return PlaygroundConfig(
        dataset=dataset,
        n_points=as_int("Points", n_points, limits.NN_POINTS_MIN, limits.NN_POINTS_MAX),
        noise=as_float("Noise", noise, 0.0, limits.NN_NOISE_MAX),
        n_classes=as_int("Classes", n_classes, 2, limits.NN_CLASSES_MAX),
        train_percent=as_int("Training data %", train_percent, limits.NN_TRAIN_PERCENT_MIN,
                             limits.NN_TRAIN_PERCENT_MAX),
        seed=as_int("Seed", seed, 0, limits.SEED_MAX),
        features=features,
        hidden_layers=as_int("Hidden layers", hidden_layers, 0, limits.NN_LAYERS_MAX),
        neurons=as_int("Neurons per layer", neurons, 1, limits.NN_NEURONS_MAX),
        activation=activation,
        dropout=as_float("Dropout", dropout, 0.0, limits.NN_DROPOUT_MAX),
        learning_rate=as_float("Learning rate", learning_rate, limits.NN_LR_MIN, limits.NN_LR_MAX),
        optimizer=optimizer,
        batch_size=as_int("Batch size", batch_size, limits.NN_BATCH_MIN, limits.NN_BATCH_MAX),
        l2=as_float("L2", l2, 0.0, limits.NN_L2_MAX),
    )


def make_trainer(*values) -> PlaygroundTrainer:
    """``shared.live``'s factory: the UI's settings (the last one is the learner's CSV points) to a trainer."""
    *settings, points = values
    config = config_from(*settings)
    array = np.asarray(points, dtype=np.float64).reshape(-1, 3) if points else None
    return PlaygroundTrainer(config, make_data(config, array))


# ---------------------------------------------------------------------------------------------
# Take it home: the script and the weights
# ---------------------------------------------------------------------------------------------

def generate_code(config: PlaygroundConfig, steps: int) -> str:
    """A standalone PyTorch script that builds and trains exactly this network for ``steps`` steps.

    It generates the same data (the generator's source is copied in), initialises the same weights from
    the same seed and draws the same mini-batches, so it prints the loss the app shows (with dropout,
    up to PyTorch's own random masks). It saves the weights as ``network.safetensors``. For "Your CSV"
    it reads ``points.csv`` (x,y,label) from the current folder.
    """
    steps = as_int("Steps", steps, 1, limits.NN_CODE_STEPS_MAX)
    regression = config.dataset == REGRESSION
    if config.dataset == YOUR_CSV:
        data_code = ('points = np.loadtxt("points.csv", delimiter=",", skiprows=SKIP_HEADER)  # x,y,label rows\n'
                     "X, y = points[:, :2], points[:, 2]\n"
                     "regression = not np.all(np.mod(y, 1) == 0)\n"
                     "n_classes = 0 if regression else int(y.max()) + 1\n")
        header = "SKIP_HEADER = 0  # 1 if your CSV starts with a header row\n"
        regression_line = ""
    else:
        generator = GENERATORS[config.dataset]
        n_classes = 2 if config.dataset in TWO_CLASS_ONLY else config.n_classes
        data_code = (inspect.getsource(generator) + "\n\n"
                     f"X, y = {generator.__name__}({config.n_points}, {n_classes}, {config.noise!r}, rng)\n")
        header = ""
        regression_line = f"regression = {regression}\nn_classes = {0 if regression else n_classes}\n"
    if config.dataset == YOUR_CSV:
        data_line = "your CSV (points.csv)"
    elif regression:
        data_line = f"{config.dataset}, noise {config.noise:g}"
    else:
        data_line = f"{config.dataset}, {n_classes} classes, noise {config.noise:g}"
    features = ", ".join(FEATURES[f] for f in config.features)
    layers = []
    width = len(config.features)
    for _ in range(config.hidden_layers):
        layers.append(f"nn.Linear({width}, {config.neurons}),")
        layers.append(f"nn.{ACTIVATIONS[config.activation].__name__}(),")
        if config.dropout > 0:
            layers.append(f"nn.Dropout({config.dropout!r}),")
        width = config.neurons
    layers.append(f"nn.Linear({width}, 1 if regression else n_classes),")
    optimizer = f"torch.optim.{config.optimizer}(model.parameters(), lr={config.learning_rate!r}, weight_decay={config.l2!r})"
    imports = "from sklearn.datasets import make_moons\n" if config.dataset == "Two moons" else ""
    body = f'''\
"""The network from Creative Machines, topic 3 (Foundations), as a standalone PyTorch script.

Data: {data_line}, {config.train_percent} % for training, seed {config.seed}.
Network: features ({", ".join(config.features)}) -> {" -> ".join([str(config.neurons)] * config.hidden_layers) or "no hidden layer"} -> output; {config.activation}.
Training: {config.optimizer}, learning rate {config.learning_rate:g}, batch size {config.batch_size}, L2 {config.l2:g}, {steps} steps.

Run:  python this_file.py   (needs numpy, torch, safetensors{", scikit-learn" if imports else ""})
"""
import math

import numpy as np
import torch
from safetensors.torch import save_file
{imports}from torch import nn

SEED = {config.seed}
STEPS = {steps}
BATCH_SIZE = {config.batch_size}
TRAIN_PERCENT = {config.train_percent}
{header}
rng = np.random.default_rng(SEED)

# ---- data -------------------------------------------------------------------------------------
{data_code}{regression_line}X = np.clip(X, -{EDGE}, {EDGE})  # noise must not push points off the plane
order = rng.permutation(len(X))
n_train = int(round(len(X) * TRAIN_PERCENT / 100))
X = X.astype(np.float32)
y = y.astype(np.float32) if regression else y.astype(np.int64)
train, test = order[:n_train], order[n_train:]


def features(X):
    """The network's inputs: ({", ".join(config.features)}) of each point."""
    x, y = X[:, 0], X[:, 1]
    return torch.from_numpy(np.stack([{features}], 1).astype(np.float32))


X_train, X_test = features(X[train]), features(X[test])  # (N, {len(config.features)})
y_train, y_test = torch.from_numpy(y[train]), torch.from_numpy(y[test])

# ---- the network ------------------------------------------------------------------------------
model = nn.Sequential(
{textwrap.indent(chr(10).join(layers), "    ")}
)


{inspect.getsource(init_weights)}

generator = torch.Generator().manual_seed(SEED)
init_weights(model, generator)
torch.manual_seed(SEED)  # dropout masks
optimizer = {optimizer}
print(f"{{sum(p.numel() for p in model.parameters()):,}} parameters")


def loss_fn(outputs, targets):
    if regression:
        return nn.functional.mse_loss(outputs[:, 0], targets)  # mean squared error
    return nn.functional.cross_entropy(outputs, targets)  # softmax + negative log-likelihood


# ---- training: one random mini-batch per step -------------------------------------------------
for step in range(1, STEPS + 1):
    batch = torch.randint(0, len(X_train), (min(BATCH_SIZE, len(X_train)),), generator=generator)
    model.train()
    loss = loss_fn(model(X_train[batch]), y_train[batch])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % max(1, STEPS // 10) == 0 or step == STEPS:
        model.eval()
        with torch.no_grad():
            train_loss = float(loss_fn(model(X_train), y_train))
            test_out = model(X_test)
            test_loss = float(loss_fn(test_out, y_test))
        line = f"step {{step}}: train loss {{train_loss:.4f}}, test loss {{test_loss:.4f}}"
        if not regression:
            line += f", test accuracy {{float((test_out.argmax(1) == y_test).float().mean()):.3f}}"
        print(line)
        if not math.isfinite(train_loss):
            raise SystemExit("The loss became NaN: lower the learning rate.")

save_file(model.state_dict(), "network.safetensors")
print("weights saved to network.safetensors")
'''
    return body


def save_weights(trainer: PlaygroundTrainer, steps: int, folder: str | Path | None = None) -> Path:
    """Write the network's weights to ``network.safetensors`` (tensor names as in ``nn.Sequential``:
    ``0.weight``, ``0.bias``, ...), with the settings and step count in the file's metadata."""
    folder = Path(folder or files.fresh_folder("foundations"))
    path = folder / "network.safetensors"
    state = {k: v.detach().contiguous() for k, v in trainer.model.state_dict().items()}
    metadata = {"config": json.dumps(asdict(trainer.config)), "steps": str(steps),
                "source": "Creative Machines, topic 3 playground"}
    save_file(state, str(path), metadata=metadata)
    return path


# ---------------------------------------------------------------------------------------------
# Pictures, drawn with Pillow straight from numpy: a live view redraws several times a second
# ---------------------------------------------------------------------------------------------

GRID = 96
_axis = np.linspace(-BOX, BOX, GRID, dtype=np.float32)
GRID_POINTS = np.stack(np.meshgrid(_axis, _axis[::-1]), -1).reshape(-1, 2)  # (GRID*GRID, 2), image order: row 0 at y = +BOX
THUMB = 36  # grid of each neuron's picture
_taxis = np.linspace(-BOX, BOX, THUMB, dtype=np.float32)
THUMB_POINTS = np.stack(np.meshgrid(_taxis, _taxis[::-1]), -1).reshape(-1, 2)
MAX_LINES = 256  # weights drawn per layer (the strongest): a full 32x32 layer is a blur
PICTURE_HEIGHT, NETWORK_WIDTH, OUTPUT_PX, CHART_HEIGHT = 400, 560, 340, 150
PICTURE_WIDTH = NETWORK_WIDTH + OUTPUT_PX + 16
LOSS_COLORS = {"train loss": (140, 148, 160), "test loss": (228, 87, 46)}
# Big enough to read on a projector: the picture is shown about 400 px wide there (0.45x), so 20 px of text
# becomes 9 CSS px, 13 screen px at 150% zoom (it was 11 px: 7 screen px). Longer legends are in the page's text.
FONT_PX, FONT_MIN_PX = 20, 12
_INK = (60, 60, 60)


@functools.lru_cache(maxsize=16)
def _font(size: int = FONT_PX) -> ImageFont.FreeTypeFont:
    """DejaVu Sans at ``size`` px, the font matplotlib ships (Pillow's default font has no "²" for x²)."""
    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


_FONT = _font()


def _font_to_fit(texts: list[str], room: float) -> ImageFont.FreeTypeFont:
    """The largest font (:data:`FONT_PX` down to :data:`FONT_MIN_PX`) in which every one of ``texts`` is at
    most ``room`` px wide: deep networks put their columns close together."""
    for size in range(FONT_PX, FONT_MIN_PX - 1, -1):
        if max((_font(size).getlength(t) for t in texts), default=0) <= room:
            return _font(size)
    return _font(FONT_MIN_PX)


def class_colors(probs: np.ndarray) -> np.ndarray:
    """``(N, 3)`` RGB in [0, 1]: each class's colour weighted by its probability, pale so points stand out."""
    return 0.45 * (probs @ CLASS_COLORS[: probs.shape[1]]) + 0.55


def diverging(values: np.ndarray, scale: float) -> np.ndarray:
    """``values`` (any shape) to RGB in [0, 1]: orange for negative, white for 0, blue for positive."""
    t = np.clip(values / (scale + 1e-12), -1, 1)[..., None]
    white = np.ones(3)
    return np.where(t >= 0, white + t * (POSITIVE - white), white - t * (NEGATIVE - white))


_LUT = (diverging(np.linspace(-1, 1, 256), 1.0) * 255).astype(np.uint8)  # (256, 3)


def diverging_u8(values: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
    """As :func:`diverging`, but uint8 through a 256-colour table: what the live pictures use (10x faster)."""
    with np.errstate(invalid="ignore", divide="ignore"):  # a diverged network's NaNs are drawn white
        t = np.nan_to_num(values / (scale + 1e-12), nan=0.0, posinf=1.0, neginf=-1.0)
    return _LUT[np.clip((t + 1) * 127.5, 0, 255).astype(np.uint8)]


def _to_image(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))


def output_image(trainer: PlaygroundTrainer, px: int = OUTPUT_PX) -> Image.Image:
    """The prediction over the whole plane with every point on it: a ``px`` x ``px`` picture.

    Classification: each class's colour, mixed by its probability (so pale = unsure). Regression: the
    predicted value, blue positive, orange negative. Training points have a white rim, test points black.
    """
    data = trainer.data
    prediction = trainer.predict(GRID_POINTS)
    if data.regression:
        scale = max(float(np.abs(data.y_train).max()), 1e-6)
        background = diverging(prediction.reshape(GRID, GRID), scale) * 0.6 + 0.4
        point_rgb = [diverging(data.y_train, scale), diverging(data.y_test, scale)]
    else:
        background = class_colors(prediction).reshape(GRID, GRID, 3)
        point_rgb = [CLASS_COLORS[data.y_train], CLASS_COLORS[data.y_test]]
    image = _to_image(background).resize((px, px), Image.BILINEAR)
    draw = ImageDraw.Draw(image)
    r = 3 if len(data.X_train) + len(data.X_test) <= 800 else 2
    for X, rgb, rim in ((data.X_train, point_rgb[0], (255, 255, 255)), (data.X_test, point_rgb[1], (0, 0, 0))):
        cx = ((X[:, 0] + BOX) / (2 * BOX) * px).tolist()
        cy = ((BOX - X[:, 1]) / (2 * BOX) * px).tolist()
        fills = [tuple(c) for c in (rgb * 255).astype(int).tolist()]
        for x, y, fill in zip(cx, cy, fills):
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill, outline=rim)
    return image


def network_image(trainer: PlaygroundTrainer, view: str = WEIGHT_VIEWS[0], width: int = NETWORK_WIDTH,
                  height: int = PICTURE_HEIGHT) -> Image.Image:
    """The network drawn as TensorFlow Playground does.

    One column per layer (inputs, hidden layers, outputs); each neuron is a small picture of its value
    over the whole plane (blue positive, orange negative, white 0; each scaled to its own largest value;
    outputs: each class's probability in its colour). Lines are weights: blue positive, orange negative,
    thicker and darker for larger ``|w|``. With the "Heat maps" view, each weight matrix ``W``
    (outputs x inputs) is drawn as coloured cells instead.
    """
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image, "RGBA")
    linears = trainer.linear_layers()
    if view == WEIGHT_VIEWS[1]:
        _weight_heat_maps(draw, image, linears, width, height)
        return image
    layers = trainer.activations(THUMB_POINTS)  # [(T*T, F), (T*T, H)..., (T*T, C)]
    names = ["inputs"] + [f"hidden {i}" for i in range(1, len(layers) - 1)] + [
        "value" if trainer.data.regression else "p(class)"]
    top, bottom = FONT_PX + 12, 6
    tallest = max(a.shape[1] for a in layers)
    size = int(max(7, min(44, (height - top - bottom) / tallest - 3)))
    left = max(42, int(max(_FONT.getlength(f) for f in trainer.config.features)) + 14)  # room for "sin x"
    col_x = np.linspace(left, width - size - 6, len(layers)).astype(int)
    gap = (col_x[1] - col_x[0]) if len(col_x) > 1 else width
    name_font = _font_to_fit(names, gap - 8)
    positions = []  # per layer: (n, 2) top-left corners
    for x, a in zip(col_x, layers):
        n = a.shape[1]
        pitch = min(size + 6, (height - top - bottom) / n)
        y0 = top + (height - top - bottom - pitch * (n - 1) - size) / 2
        positions.append(np.stack([np.full(n, x), y0 + pitch * np.arange(n)], 1).astype(int))
    for i, layer in enumerate(linears):  # weights first, pictures on top
        w = layer.weight.detach().numpy()  # (out, in)
        strength = np.abs(w) / (np.abs(w).max() + 1e-12)
        order = np.argsort(strength, axis=None)[-MAX_LINES:]  # weakest first, so strong lines end on top
        outs, ins = np.unravel_index(order, w.shape)
        src, dst = positions[i], positions[i + 1]
        x0, y0 = (src[ins, 0] + size).tolist(), (src[ins, 1] + size // 2).tolist()
        x1, y1 = dst[outs, 0].tolist(), (dst[outs, 1] + size // 2).tolist()
        s = strength[outs, ins]
        rgb = np.where((w[outs, ins] > 0)[:, None], POSITIVE, NEGATIVE) * 255
        colors = [tuple(c) for c in np.column_stack([rgb, 40 + 200 * s]).astype(int).tolist()]
        widths = np.round(1 + 3 * s).astype(int).tolist()
        for k in np.flatnonzero(s > 0.03).tolist():
            draw.line([(x0[k], y0[k]), (x1[k], y1[k])], fill=colors[k], width=widths[k])
    for k, (a, pos) in enumerate(zip(layers, positions)):
        if k == len(layers) - 1 and not trainer.data.regression:
            tiles = 1 - a.T[..., None] * (1 - CLASS_COLORS[: a.shape[1], None, :])  # (C, T*T, 3)
            tiles = (tiles * 255).astype(np.uint8)
        else:
            tiles = diverging_u8(a.T, np.abs(a).max(0)[:, None])  # (n, T*T, 3)
        tiles = tiles.reshape(-1, THUMB, THUMB, 3)
        for tile, (x, y) in zip(tiles, pos.tolist()):
            image.paste(Image.fromarray(tile).resize((size, size), Image.NEAREST), (x, y))
            draw.rectangle([x - 1, y - 1, x + size, y + size], outline=(150, 150, 150))
        name_x = min(max(int(pos[0, 0] + size / 2), int(name_font.getlength(names[k]) / 2) + 2),
                     width - int(name_font.getlength(names[k]) / 2) - 2)  # the end columns' names stay inside
        draw.text((name_x, 3), names[k], fill=_INK, font=name_font, anchor="ma")
        if k == 0:
            for f, (x, y) in zip(trainer.config.features, pos.tolist()):
                draw.text((x - 4, y + size // 2), f, fill=_INK, font=_FONT, anchor="rm")
    return image


def _weight_heat_maps(draw: ImageDraw.ImageDraw, image: Image.Image, linears: list[nn.Linear], width: int,
                      height: int) -> None:
    """Each ``W`` (out x in) as a block of cells, left to right, each on its own colour scale."""
    shapes = [tuple(layer.weight.shape) for layer in linears]
    label_top = 2 * FONT_PX + 14  # "W1" and its shape above each block
    cell = int(max(2, min(18, (width - 48 * len(shapes)) / sum(s[1] for s in shapes),
                          (height - label_top - 6) / max(s[0] for s in shapes))))
    x = 8
    for i, layer in enumerate(linears):
        w = layer.weight.detach().numpy()
        block = Image.fromarray(diverging_u8(w, np.abs(w).max())).resize((w.shape[1] * cell, w.shape[0] * cell), Image.NEAREST)
        image.paste(block, (x, label_top))
        draw.rectangle([x - 1, label_top - 1, x + block.width, label_top + block.height], outline=(150, 150, 150))
        shape = f"{w.shape[0]}x{w.shape[1]}"
        draw.text((x, 2), f"W{i + 1}", fill=_INK, font=_FONT)
        draw.text((x, FONT_PX + 6), shape, fill=_INK, font=_FONT)
        x += max(block.width, int(_FONT.getlength(shape)), 34) + 14


def loss_chart(history: live.History, width: int, height: int = CHART_HEIGHT) -> Image.Image:
    """Train and test loss over the steps so far, on all points (grey: training, red: test)."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    curves = {name: np.asarray(history.values.get(name, []), dtype=np.float64) for name in LOSS_COLORS}
    finite = np.concatenate([c[np.isfinite(c)] for c in curves.values()]) if history.steps else np.array([])
    high = float(finite.max()) if finite.size else 1.0
    high = high if high > 0 else 1.0
    last = max(history.steps[-1] if history.steps else 1, 1)
    ticks = {frac: f"{frac * high:.3g}" for frac in (0.0, 0.5, 1.0)}
    left = max(46, int(max(_FONT.getlength(t) for t in ticks.values())) + 10)  # room for "0.0936"
    right, top, bottom = width - 16, FONT_PX + 10, height - FONT_PX - 10
    draw.text((left, 2), "Loss on all training (grey) and test (red) points", fill=_INK, font=_FONT)
    for frac, label in ticks.items():
        y = bottom - frac * (bottom - top)
        draw.line([(left, y), (right, y)], fill=(225, 228, 232))
        draw.text((left - 4, y), label, fill=_INK, font=_FONT, anchor="rm")
    for frac, anchor in ((0.0, "la"), (0.5, "ma"), (1.0, "ra")):  # the end labels stay inside the chart
        x = left + frac * (right - left)
        draw.text((x, bottom + 4), f"{int(round(frac * last)):,}", fill=_INK, font=_FONT, anchor=anchor)
    steps = np.asarray(history.steps, dtype=np.float64)
    for name, values in curves.items():
        ok = np.isfinite(values)
        if ok.sum() < 2:
            continue
        xs = left + steps[ok] / last * (right - left)
        ys = bottom - np.clip(values[ok] / high, 0, 1) * (bottom - top)
        draw.line(list(zip(xs.tolist(), ys.tolist())), fill=LOSS_COLORS[name], width=2)
    draw.rectangle([left, top, right, bottom], outline=(180, 180, 180))
    return image


def playground_image(trainer: PlaygroundTrainer, history: live.History | None = None,
                     view: str = WEIGHT_VIEWS[0]) -> np.ndarray:
    """The network (left) and its output over the plane (right), as TensorFlow Playground lays them out,
    with the loss curves below: ``(PICTURE_HEIGHT + CHART_HEIGHT, PICTURE_WIDTH, 3)`` uint8.
    :func:`render` sends it as a PNG file."""
    image = Image.new("RGB", (PICTURE_WIDTH, PICTURE_HEIGHT + CHART_HEIGHT), "white")
    image.paste(network_image(trainer, view), (0, 0))
    image.paste(output_image(trainer), (NETWORK_WIDTH + 8, FONT_PX + 12))
    image.paste(loss_chart(history or live.History(), PICTURE_WIDTH), (0, PICTURE_HEIGHT))
    draw = ImageDraw.Draw(image)
    title = "output: predicted value" if trainer.data.regression else "output: decision regions"
    draw.text((NETWORK_WIDTH + 8 + OUTPUT_PX // 2, 3), title, fill=_INK, font=_FONT, anchor="ma")
    return np.asarray(image)


def architecture_line(trainer: PlaygroundTrainer) -> str:
    c = trainer.config
    widths = [len(c.features)] + [c.neurons] * c.hidden_layers + [trainer.data.n_classes or 1]
    return (f"**{count_parameters(trainer.model):,} parameters** · layers {' → '.join(map(str, widths))} · "
            f"{len(trainer.data.X_train)} training and {len(trainer.data.X_test)} test points")


_PICTURES = Path(tempfile.mkdtemp(prefix="cm-foundations-live-"))


def picture_file(image: np.ndarray, name: str) -> str:
    """Save ``image`` as ``<name>.png`` with fast compression and return its path.

    Gradio's own PNG encoding (zlib level 6) took 50-70 ms for this picture, a third of a tick; level 1
    takes 20 ms for a file 8 % larger. Each run overwrites its own file (Gradio copies it to its cache).
    """
    path = _PICTURES / f"{name}.png"
    if not path.exists():  # a new run: keep the pictures of the most recent runs only
        files.keep_newest(_PICTURES, 2 * limits.LIVE_MAX_RUNS)
    Image.fromarray(image).save(path, format="png", compress_level=1)
    return str(path)


def render(run: live.LiveRun, *values):
    """``shared.live``'s render: the picture of the network, its output and its losses (a PNG path), and
    the summary line."""
    view = values[-2] if len(values) >= 2 else WEIGHT_VIEWS[0]  # the settings end with (view, points)
    trainer: PlaygroundTrainer = run.trainer
    picture = picture_file(playground_image(trainer, run.history, view), f"run-{id(run):x}")
    return picture, architecture_line(trainer)


# ---------------------------------------------------------------------------------------------
# The sub-tab
# ---------------------------------------------------------------------------------------------

STORE = live.RunStore()
DEFAULTS = PlaygroundConfig()


@friendly_errors
def upload_csv(path):
    if not path:
        raise ValueError("The upload is empty. Choose a CSV file with x,y,label per line.")
    return parse_csv(path).round(5).tolist(), YOUR_CSV


@friendly_errors
def show_code(key, steps, *values):
    """The script for the settings on screen, training as many steps as the learner's run has (at least 100)."""
    run = STORE.get(key)
    *settings, _view, _points = values
    config = config_from(*settings, None)
    if run is not None:
        config = run.trainer.config
    steps = max(limits.NN_CODE_STEPS_MIN, run.steps if run else 0) if not steps else steps
    code = generate_code(config, steps)
    folder = files.fresh_folder("foundations")
    path = folder / "train_network.py"
    path.write_text(code, encoding="utf-8")
    if config.dataset != YOUR_CSV:
        return code, [str(path)]
    csv = folder / "points.csv"  # the points as the app uses them (scaled to the plane)
    np.savetxt(csv, np.asarray(_points, dtype=np.float64).reshape(-1, 3), delimiter=",", fmt="%.5g")
    return code, [str(path), str(csv)]


@friendly_errors
def download_weights(key):
    run = STORE.get(key)
    if run is None:
        raise ValueError("There is no trained network yet: press Play (or Step) first.")
    return [str(save_weights(run.trainer, run.steps))]


def build_playground() -> None:
    """Lay out the playground: data, Play and the picture first, then the network's settings, then take-home."""
    gr.Markdown("Train a neural network and watch it learn.")
    points = gr.State(None)
    with gr.Row():
        dataset = gr.Dropdown(list(DATASETS), value=DEFAULTS.dataset, label="Data")
        noise = gr.Slider(0, limits.NN_NOISE_MAX, value=DEFAULTS.noise, step=0.01, label="Noise")
    controls = live.controls(main_action=True)
    summary = gr.Markdown()
    picture = gr.Image(label="The network and its output", type="filepath", format="png", interactive=False,
                       buttons=[], show_label=False)
    gr.Markdown("Each small picture is one neuron: its value over the whole plane. Lines are weights "
                "(blue +, orange −). On the right, the output over the plane: a white rim marks a training "
                "point, a black rim a test point. Changing data or architecture resets.", elem_classes="cm-header")
    with gr.Row():
        n_classes = gr.Slider(2, limits.NN_CLASSES_MAX, value=DEFAULTS.n_classes, step=1, label="Classes",
                              info="circle, spiral, Gaussians")
        train_percent = gr.Slider(limits.NN_TRAIN_PERCENT_MIN, limits.NN_TRAIN_PERCENT_MAX,
                                  value=DEFAULTS.train_percent, step=5, label="Training data %")
        n_points = gr.Slider(limits.NN_POINTS_MIN, limits.NN_POINTS_MAX, value=DEFAULTS.n_points, step=10,
                             label="Points")
        seed = gr.Number(value=DEFAULTS.seed, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    with gr.Accordion("Your own data (CSV: x,y,label)", open=False):
        upload = gr.File(label="Whole-number labels 0-4 = classes; decimals = a regression",
                         file_types=[".csv", ".txt"], type="filepath", height=90)
    features = gr.CheckboxGroup(list(FEATURES), value=list(DEFAULTS.features), label="Input features")
    with gr.Row():
        hidden_layers = gr.Slider(0, limits.NN_LAYERS_MAX, value=DEFAULTS.hidden_layers, step=1,
                                  label="Hidden layers", info="0 = a linear model")
        neurons = gr.Slider(1, limits.NN_NEURONS_MAX, value=DEFAULTS.neurons, step=1, label="Neurons per layer")
        activation = gr.Radio(list(ACTIVATIONS), value=DEFAULTS.activation, label="Activation")
    with gr.Row():
        learning_rate = gr.Dropdown([0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0],
                                    value=DEFAULTS.learning_rate, label="Learning rate", allow_custom_value=True)
        optimizer = gr.Radio(list(OPTIMIZERS), value=DEFAULTS.optimizer, label="Optimiser")
        batch_size = gr.Slider(limits.NN_BATCH_MIN, limits.NN_BATCH_MAX, value=DEFAULTS.batch_size, step=1,
                               label="Batch size")
    with gr.Row():
        l2 = gr.Slider(0, limits.NN_L2_MAX, value=DEFAULTS.l2, step=0.001, label="L2 (weight decay)")
        dropout = gr.Slider(0, limits.NN_DROPOUT_MAX, value=DEFAULTS.dropout, step=0.05, label="Dropout")
        view = gr.Radio(list(WEIGHT_VIEWS), value=WEIGHT_VIEWS[0], label="Weights shown as")
    with gr.Accordion("Take it home: the code and the weights", open=False):
        with gr.Row():
            code_steps = gr.Number(value=0, precision=0, minimum=0, maximum=limits.NN_CODE_STEPS_MAX,
                                   label="Steps in the script (0 = as many as you trained)")
            code_button = gr.Button("Show the code")
            weights_button = gr.Button("Download weights (.safetensors)")
        code = gr.Code(language="python", label="PyTorch: builds and trains exactly this network", lines=12,
                       max_lines=40, wrap_lines=True)  # long lines wrap: a projector's pane would hide their ends
        files = gr.File(label="Files", interactive=False, file_count="multiple", height=90)

    structure = [dataset, n_points, noise, n_classes, train_percent, seed, features, hidden_layers, neurons,
                 activation, dropout]
    settings = [*structure, learning_rate, optimizer, batch_size, l2, view, points]
    wired = live.wire(controls, STORE, name="playground", make_trainer=make_trainer, settings=settings,
                      render=render, outputs=[picture, summary])
    gr.on([c.input for c in structure] + [view.input], wired.reset, wired.inputs, wired.outputs,
          api_visibility="private", trigger_mode="always_last", concurrency_id="playground")
    upload.upload(upload_csv, [upload], [points, dataset], api_visibility="private") \
        .then(wired.reset, wired.inputs, wired.outputs, api_visibility="private", concurrency_id="playground")
    code_button.click(show_code, [controls.key, code_steps, *settings], [code, files], api_name="playground_code")
    weights_button.click(download_weights, [controls.key], [files], api_name="playground_weights")
    on_page_load(wired.reset, wired.inputs, wired.outputs)
