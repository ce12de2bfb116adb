"""Synthetic data: fit a generative model to a real table, sample new rows, then measure fidelity and privacy.

Two generators, both written out here because they teach the idea:

- **Gaussian copula** (Sklar 1959; as in the Synthetic Data Vault, Patki et al. 2016). Each column is
  turned into normal scores through its own empirical distribution (ranks), the correlation matrix of
  those scores is estimated, and new rows are drawn from that multivariate normal and mapped back
  through each column's empirical quantiles. Marginals are kept exactly; dependence is kept as far as a
  Gaussian can describe it.
- **Tabular VAE** (Kingma and Welling 2013; the TVAE baseline of Xu et al. 2019, much simplified): a
  small encoder and decoder over standardised columns, trained for a few seconds on the CPU.

Fidelity: per-column histograms overlaid, correlation matrices side by side, column means, and
train-on-synthetic / test-on-real (TSTR) against train-on-real / test-on-real (TRTR) with the same
scikit-learn model (Esteban et al. 2017). Privacy: each synthetic row's distance to its closest real
training row (DCR), compared with the same distance for real rows the generator never saw (a holdout).
A synthetic row closer to the training data than almost all holdout rows is a possible near-copy.

Data: scikit-learn's breast-cancer table (Wisconsin diagnostic, 569 rows, 30 features + diagnosis) and
diabetes table (Efron et al. 2004, 442 rows, 10 features + disease progression), both shipped inside
scikit-learn, or a small numeric CSV the learner uploads.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from apps.key_models.common import mlp, seeded_init_  # topic 2's building blocks
from shared import limits
from shared.checks import as_int

DATASETS = ("Breast cancer (classification)", "Diabetes (regression)")
GENERATORS = ("Gaussian copula", "Tabular VAE")
HOLDOUT_FRACTION = 0.3
NEAR_COPY_QUANTILE = 0.05  # a "near-copy" is closer to a training row than 95% of holdout rows are
DISCRETE_MAX_VALUES = 10  # a column with this few distinct values is treated as categorical (e.g. a label)


@dataclass
class Table:
    """A numeric table split once into the rows a generator may see (``train``) and a ``holdout``.

    The last column is the target; ``task`` is ``"classification"`` or ``"regression"``.
    """

    name: str
    train: pd.DataFrame
    holdout: pd.DataFrame
    task: str

    @property
    def target(self) -> str:
        return self.train.columns[-1]


def split(name: str, frame: pd.DataFrame, seed: int = 0) -> Table:
    """Shuffle with ``seed`` and hold out ``HOLDOUT_FRACTION`` of the rows; infer the task from the last column."""
    order = np.random.default_rng(seed).permutation(len(frame))
    n_holdout = int(round(HOLDOUT_FRACTION * len(frame)))
    target = frame.iloc[:, -1]
    discrete = target.nunique() <= DISCRETE_MAX_VALUES and np.allclose(target, np.round(target))
    return Table(name, frame.iloc[order[n_holdout:]].reset_index(drop=True),
                 frame.iloc[order[:n_holdout]].reset_index(drop=True),
                 "classification" if discrete else "regression")


def load_table(name: str, seed: int = 0) -> Table:
    """One of :data:`DATASETS`, as a :class:`Table` (features then target, float64)."""
    from sklearn.datasets import load_breast_cancer, load_diabetes

    if name == DATASETS[0]:
        data = load_breast_cancer(as_frame=True)
        frame = data.frame.rename(columns={"target": "benign"})
    elif name == DATASETS[1]:
        data = load_diabetes(as_frame=True, scaled=False)
        frame = data.frame.rename(columns={"target": "progression"})
    else:
        raise ValueError(f"Dataset must be one of {', '.join(DATASETS)}, not {name!r}.")
    return split(name, frame.astype(np.float64), seed)


def read_csv_table(path: str | os.PathLike, seed: int = 0) -> Table:
    """An uploaded CSV of numbers (header row; the last column is the target) as a :class:`Table`.

    Raises:
        ValueError: not a readable CSV, non-numeric or empty cells, too few or too many rows or columns.
    """
    max_rows, max_cols = limits.SYNTH_TABLE_MAX_ROWS, limits.SYNTH_TABLE_MAX_COLUMNS
    try:
        frame = pd.read_csv(path, nrows=max_rows + 1)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"The file could not be read as a CSV table ({e}).") from e
    if len(frame) > max_rows:
        raise ValueError(f"The table has more than {max_rows:,} rows; the limit is {max_rows:,}. "
                         "Upload a sample of it (nothing is cut off for you).")
    if frame.shape[1] > max_cols:
        raise ValueError(f"The table has {frame.shape[1]} columns; the limit is {max_cols}.")
    if frame.shape[1] < 2:
        raise ValueError("The table needs at least two columns: features, then the target in the last column.")
    if len(frame) < limits.SYNTH_TABLE_MIN_ROWS:
        raise ValueError(f"The table has {len(frame)} rows; at least {limits.SYNTH_TABLE_MIN_ROWS} are needed "
                         "to fit a model and keep a holdout.")
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise ValueError(f"Every column must hold numbers; {text[0]!r} does not. Encode categories as numbers first.")
    if frame.isna().any().any():
        raise ValueError("The table has empty cells; fill or drop them first.")
    return split(Path(path).name, frame.astype(np.float64), seed)


# --- generator 1: the Gaussian copula -------------------------------------------------------------------

@dataclass
class GaussianCopula:
    """Marginals kept as sorted training values ``(n, D)``; dependence as a ``(D, D)`` correlation of normal scores."""

    columns: list[str]
    sorted_values: np.ndarray
    correlation: np.ndarray
    discrete: np.ndarray  # (D,) bool: columns snapped to their observed values

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> GaussianCopula:
        from scipy.stats import norm, rankdata

        x = frame.to_numpy(np.float64)  # (n, D)
        n = len(x)
        u = rankdata(x, axis=0) / (n + 1)  # (n, D) in (0, 1): each column's empirical CDF
        z = norm.ppf(u)  # normal scores
        correlation = np.corrcoef(z, rowvar=False)
        correlation = np.nan_to_num(correlation) + 1e-6 * np.eye(x.shape[1])  # constant columns, and PD
        return cls(list(frame.columns), np.sort(x, axis=0), correlation, _discrete_columns(x))

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """``n`` synthetic rows: z ~ N(0, R), u = Phi(z), x_j = quantile_j(u_j)."""
        from scipy.stats import norm

        L = np.linalg.cholesky(self.correlation)
        z = rng.standard_normal((n, len(self.columns))) @ L.T  # (n, D) correlated normal scores
        u = norm.cdf(z)
        m = len(self.sorted_values)
        position = u * (m - 1)  # linear interpolation between order statistics
        lo = np.floor(position).astype(int).clip(0, m - 1)
        hi = (lo + 1).clip(0, m - 1)
        cols = np.arange(len(self.columns))
        frac = position - lo
        x = self.sorted_values[lo, cols] * (1 - frac) + self.sorted_values[hi, cols] * frac
        return _snap_discrete(pd.DataFrame(x, columns=self.columns), self.sorted_values, self.discrete)


def _discrete_columns(x: np.ndarray) -> np.ndarray:
    return np.array([len(np.unique(c)) <= DISCRETE_MAX_VALUES and np.allclose(c, np.round(c)) for c in x.T])


def _snap_discrete(frame: pd.DataFrame, reference: np.ndarray, discrete: np.ndarray) -> pd.DataFrame:
    """Round each discrete column to its nearest observed value (a label stays a label)."""
    for j in np.flatnonzero(discrete):
        values = np.unique(reference[:, j])
        col = frame.iloc[:, j].to_numpy()
        frame.iloc[:, j] = values[np.abs(col[:, None] - values[None, :]).argmin(1)]
    return frame


# --- generator 2: a small tabular VAE --------------------------------------------------------------------

class TabularVAE:
    """A VAE over standardised columns: encoder ``(B, D) -> (mu, logvar)`` each ``(B, latent)``, decoder back to
    ``(B, D)`` means with one learned variance per column (Gaussian likelihood). Kingma and Welling 2013, eq. 10."""

    def __init__(self, frame: pd.DataFrame, hidden: int = 64, latent: int = 8, seed: int = 0):
        import torch
        from torch import nn

        x = frame.to_numpy(np.float64)
        self.columns = list(frame.columns)
        self.mean, self.std = x.mean(0), x.std(0) + 1e-9
        self.reference = x
        self.discrete = _discrete_columns(x)
        self.data = torch.as_tensor((x - self.mean) / self.std, dtype=torch.float32)  # (n, D)
        self.generator = torch.Generator().manual_seed(seed)
        d = x.shape[1]
        self.latent = latent
        # A private generator, not torch.manual_seed: other learners' models are being built at the same time.
        self.encoder = seeded_init_(mlp([d, hidden, hidden, 2 * latent]), self.generator)
        self.decoder = seeded_init_(mlp([latent, hidden, hidden, d]), self.generator)
        self.log_var_x = nn.Parameter(torch.full((d,), -1.0))
        params = [*self.encoder.parameters(), *self.decoder.parameters(), self.log_var_x]
        self.opt = torch.optim.Adam(params, lr=2e-3)

    def train_step(self, batch_size: int = 128) -> float:
        """One Adam step on a random batch; returns the negative ELBO per row (nats)."""
        import torch

        x = self.data[torch.randint(len(self.data), (batch_size,), generator=self.generator)]  # (B, D)
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        logvar = logvar.clamp(-8, 8)
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=self.generator)  # reparameterisation
        out = self.decoder(z)
        nll = 0.5 * (((x - out) ** 2) / self.log_var_x.exp() + self.log_var_x + math.log(2 * math.pi)).sum(1)
        kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)
        loss = (nll + kl).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Decode z ~ N(0, I) and add the decoder's per-column Gaussian noise; back to the table's units."""
        import torch

        with torch.no_grad():
            z = torch.as_tensor(rng.standard_normal((n, self.latent)), dtype=torch.float32)
            out = self.decoder(z).numpy().astype(np.float64)
            sd = (0.5 * self.log_var_x).exp().numpy().astype(np.float64)
        x = (out + sd * rng.standard_normal(out.shape)) * self.std + self.mean
        x = np.clip(x, self.reference.min(0), self.reference.max(0))  # stay inside each column's observed range
        return _snap_discrete(pd.DataFrame(x, columns=self.columns), self.reference, self.discrete)


def fit_generator(table: Table, generator: str, steps: int = 1500, seed: int = 0,
                  progress: Callable[[float, str], None] | None = None):
    """Fit ``generator`` (one of :data:`GENERATORS`) to ``table.train``; return an object with ``sample(n, rng)``.

    Raises:
        ValueError: unknown generator or a step count outside ``shared.limits``.
    """
    from shared.device import torch_threads

    steps = as_int("Training steps", steps, limits.SYNTH_VAE_STEPS_MIN, limits.SYNTH_VAE_STEPS_MAX)
    if generator == GENERATORS[0]:
        return GaussianCopula.fit(table.train)
    if generator != GENERATORS[1]:
        raise ValueError(f"Generator must be one of {', '.join(GENERATORS)}, not {generator!r}.")
    with torch_threads(1):  # a tiny network: one thread is fastest, and leaves the other core free
        vae = TabularVAE(table.train, seed=seed)
        for step in range(steps):
            loss = vae.train_step()
            if progress is not None and step % 100 == 0:
                progress(step / steps, f"Training the VAE: step {step:,} of {steps:,}, loss {loss:.2f}")
    return vae


def synthesise(table: Table, generator: str, n_rows, steps=1500, seed=0,
               progress: Callable[[float, str], None] | None = None) -> tuple[pd.DataFrame, float]:
    """Fit ``generator`` and sample ``n_rows`` synthetic rows: ``(rows, fit_seconds)``; same columns as the table."""
    n_rows = as_int("Synthetic rows", n_rows, limits.SYNTH_ROWS_MIN, limits.SYNTH_ROWS_MAX)
    seed = as_int("Seed", seed, 0, limits.SEED_MAX)
    start = time.perf_counter()
    model = fit_generator(table, generator, steps, seed, progress)
    fit_s = time.perf_counter() - start
    return model.sample(n_rows, np.random.default_rng(seed)), fit_s


# --- fidelity and privacy ---------------------------------------------------------------------------------

@dataclass
class Report:
    """What the demo shows about one synthetic table. Scores: accuracy (classification) or R² (regression)."""

    metric: str
    tstr: float  # train on synthetic, test on the real holdout
    trtr: float  # train on real (training rows), test on the real holdout
    chance: float  # the score of always predicting the majority class / the mean
    means: pd.DataFrame  # per column: real mean, synthetic mean, difference in real standard deviations
    correlation_gap: float  # mean |corr_real - corr_synthetic| over column pairs
    dcr_synthetic: np.ndarray  # (n_synthetic,) distance of each synthetic row to its closest training row
    dcr_holdout: np.ndarray  # (n_holdout,) the same for real rows the generator never saw
    near_copy_threshold: float
    near_copy_share: float  # share of synthetic rows closer than the threshold (holdout: NEAR_COPY_QUANTILE)
    exact_copies: int
    notes: list[str] = field(default_factory=list)


def utility_scores(table: Table, synthetic: pd.DataFrame) -> tuple[str, float, float, float]:
    """``(metric, tstr, trtr, chance)`` with a standardised logistic regression (classification) or ridge
    regression (regression), both scored on the real holdout."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    target = table.target
    X_test, y_test = table.holdout.drop(columns=target), table.holdout[target]

    def score(train: pd.DataFrame) -> float:
        X, y = train.drop(columns=target), train[target]
        if table.task == "classification":
            if y.nunique() < 2:
                return float((y_test == y.iloc[0]).mean())  # a one-class training set can only predict that class
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        else:
            model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        return float(model.fit(X, y).score(X_test, y_test))

    if table.task == "classification":
        chance = float((y_test == table.train[target].mode().iloc[0]).mean())
        metric = "accuracy"
    else:
        chance, metric = 0.0, "R²"
    return metric, score(synthetic), score(table.train), chance


def closest_distances(reference: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """``(len(rows),)`` Euclidean distance from each row to its nearest ``reference`` row, with every column
    scaled by the reference's standard deviation (so no column dominates by its units)."""
    from sklearn.neighbors import NearestNeighbors

    scale = reference.std().to_numpy() + 1e-12
    index = NearestNeighbors(n_neighbors=1).fit(reference.to_numpy() / scale)
    distances, _ = index.kneighbors(rows[reference.columns].to_numpy() / scale)
    return distances[:, 0]


def evaluate(table: Table, synthetic: pd.DataFrame) -> Report:
    """Fidelity (means, correlations, TSTR vs TRTR) and privacy (distance to closest record) of ``synthetic``."""
    real = table.train
    std = real.std().replace(0, 1.0)
    means = pd.DataFrame({
        "column": real.columns,
        "real mean": real.mean().to_numpy(),
        "synthetic mean": synthetic.mean().to_numpy(),
        "difference (real SDs)": ((synthetic.mean() - real.mean()) / std).to_numpy(),
    })
    corr_real, corr_syn = real.corr().fillna(0).to_numpy(), synthetic.corr().fillna(0).to_numpy()
    off_diagonal = ~np.eye(len(real.columns), dtype=bool)
    gap = float(np.abs(corr_real - corr_syn)[off_diagonal].mean())
    metric, tstr, trtr, chance = utility_scores(table, synthetic)
    dcr_syn = closest_distances(real, synthetic)
    dcr_hold = closest_distances(real, table.holdout)
    threshold = float(np.quantile(dcr_hold, NEAR_COPY_QUANTILE))
    notes = []
    if table.task == "classification" and synthetic[table.target].nunique() < 2:
        notes.append("The synthetic rows hold a single class: the classifier trained on them can only guess it.")
    return Report(metric, tstr, trtr, chance, means, gap, dcr_syn, dcr_hold, threshold,
                  float((dcr_syn < threshold).mean()), int((dcr_syn < 1e-6).sum()), notes)


# --- figures and the download ----------------------------------------------------------------------------

def histograms_figure(real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str]):
    """Per-column histograms, real and synthetic overlaid (densities, shared bins)."""
    from matplotlib.figure import Figure

    n = len(columns)
    ncols = 3
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(9, 0.4 + 2.2 * nrows), layout="constrained")
    fig.suptitle("Per-column distributions: real (blue) vs synthetic (orange)", fontsize=11)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax, col in zip(axes, columns, strict=False):
        both = np.concatenate([real[col].to_numpy(), synthetic[col].to_numpy()])
        bins = np.histogram_bin_edges(both, bins=24)
        ax.hist(real[col], bins=bins, density=True, alpha=0.55, color="#4c72b0", label="real")
        ax.hist(synthetic[col], bins=bins, density=True, alpha=0.55, color="#e4572e", label="synthetic")
        ax.set_title(col, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.axis("off")
    axes[0].legend(fontsize=7)
    return fig


def correlations_figure(real: pd.DataFrame, synthetic: pd.DataFrame):
    """The two correlation matrices side by side, same colour scale (-1 blue to +1 red)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.6), layout="constrained")
    fig.suptitle("Correlation between columns", fontsize=11)
    axes = fig.subplots(1, 2)
    labels = [c if len(c) <= 14 else c[:13] + "…" for c in real.columns]
    small = len(labels) > 16
    for ax, frame, title in ((axes[0], real, "real (training rows)"), (axes[1], synthetic, "synthetic")):
        image = ax.imshow(frame.corr().fillna(0).to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=5 if small else 7)
        ax.set_yticks(range(len(labels)), labels, fontsize=5 if small else 7)
    fig.colorbar(image, ax=axes, shrink=0.8)
    return fig


def privacy_figure(report: Report):
    """Histograms of distance to the closest training row: synthetic rows vs the real holdout."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.set_title("Privacy: distance from each row to the closest real training row", fontsize=11)
    top = float(np.quantile(np.concatenate([report.dcr_synthetic, report.dcr_holdout]), 0.99))
    bins = np.linspace(0, max(top, 1e-6), 40)
    ax.hist(report.dcr_holdout, bins=bins, density=True, alpha=0.55, color="#4c72b0", label="real holdout rows")
    ax.hist(report.dcr_synthetic, bins=bins, density=True, alpha=0.55, color="#e4572e", label="synthetic rows")
    ax.axvline(report.near_copy_threshold, color="k", ls="--", lw=1,
               label=f"near-copy threshold ({NEAR_COPY_QUANTILE:.0%} of holdout rows are closer)")
    ax.set_xlabel("distance to the closest real training row (columns in standard deviations)")
    ax.set_yticks([])
    ax.legend(fontsize=8)
    return fig


_DOWNLOADS = Path(tempfile.gettempdir()) / "cm-industries-synthetic"
_DOWNLOADS_KEPT = 32


def write_csv(frame: pd.DataFrame, stem: str) -> str:
    """Write ``frame`` to a fresh CSV in this demo's own temporary folder (only its newest files are kept)
    and return the path, for Gradio to serve as a download."""
    _DOWNLOADS.mkdir(exist_ok=True)
    old = sorted(_DOWNLOADS.glob("*.csv"), key=lambda p: p.stat().st_mtime)
    for path in old[: max(0, len(old) - _DOWNLOADS_KEPT + 1)]:
        path.unlink(missing_ok=True)
    handle, name = tempfile.mkstemp(prefix=f"{stem}-", suffix=".csv", dir=_DOWNLOADS)
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
        frame.to_csv(f, index=False, float_format="%.6g")
    return name


# ---------------------------------------------------------------------------------------------
# The sub-tab
# ---------------------------------------------------------------------------------------------

# The breast-cancer table's columns, for the page's first view without importing scikit-learn at start-up.
_MEASURES = ("radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity", "concave points",
             "symmetry", "fractal dimension")
BREAST_CANCER_COLUMNS = ([f"mean {m}" for m in _MEASURES] + [f"{m} error" for m in _MEASURES]
                         + [f"worst {m}" for m in _MEASURES] + ["benign"])
UPLOAD = "Your CSV (numbers; last column = target)"
CONCURRENCY_ID = "industries_synthetic"


def get_table(dataset: str, upload: str | None) -> Table:
    """The chosen table: a scikit-learn one, or the uploaded CSV."""
    if dataset == UPLOAD:
        if not upload:
            raise ValueError("Upload a CSV file first (or choose one of the scikit-learn tables).")
        return read_csv_table(upload)
    return load_table(dataset)


def summary_markdown(table: Table, report: Report, generator: str, n_rows: int, fit_s: float, sample_s: float) -> str:
    """The report as Markdown; the table's name (an uploaded file's name) is escaped."""
    from shared.ui import escape_markdown

    ratio = report.tstr / report.trtr if report.trtr > 0 else float("nan")
    lines = [
        f"**{generator}** fitted to {len(table.train):,} real rows of *{escape_markdown(table.name)}* in {fit_s:.2f} s; "
        f"{n_rows:,} synthetic rows sampled in {sample_s * 1000:.0f} ms ({n_rows / max(sample_s, 1e-9):,.0f} rows/s). "
        f"{len(table.holdout):,} real rows were held out: the generator never saw them.",
        "",
        f"- **Fidelity, utility**: a {'logistic' if table.task == 'classification' else 'ridge'} regression trained "
        f"on synthetic rows scores **{report.metric} {report.tstr:.3f}** on the real holdout (TSTR), against "
        f"**{report.trtr:.3f}** when trained on the real rows (TRTR): ratio {ratio:.2f}. "
        f"Chance: {report.chance:.3f}.",
        f"- **Fidelity, shape**: the largest column-mean gap is "
        f"{report.means['difference (real SDs)'].abs().max():.3f} standard deviations; correlations differ by "
        f"{report.correlation_gap:.3f} on average.",
        f"- **Privacy**: {report.near_copy_share:.1%} of synthetic rows are closer to a real training row than "
        f"{1 - NEAR_COPY_QUANTILE:.0%} of real holdout rows are (a fresh real row: {NEAR_COPY_QUANTILE:.0%}); "
        f"exact copies: {report.exact_copies}. A share well above {NEAR_COPY_QUANTILE:.0%} means memorised rows.",
    ]
    return "\n".join(lines + [f"- ⚠️ {n}" for n in report.notes])


def build_synthetic() -> None:
    import gradio as gr

    from shared.ui import friendly_errors, warn

    @friendly_errors
    def synthesise_ui(dataset, upload, generator, n_rows, steps, seed, columns, progress=gr.Progress()):
        table = get_table(dataset, upload)
        n_rows = as_int("Synthetic rows", n_rows, limits.SYNTH_ROWS_MIN, limits.SYNTH_ROWS_MAX)
        seed = as_int("Seed", seed, 0, limits.SEED_MAX)
        progress(0.0, desc=f"Fitting the {generator.lower()}")
        start = time.perf_counter()
        model = fit_generator(table, generator, steps, seed, lambda f, m: progress(f, desc=m))
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        rows = model.sample(n_rows, np.random.default_rng(seed))
        sample_s = time.perf_counter() - start
        progress(0.95, desc="Measuring fidelity and privacy")
        report = evaluate(table, rows)
        columns = [c for c in (columns or []) if c in rows.columns] or _default_columns(table)
        stem = re.sub(r"[^a-z0-9]+", "-", f"synthetic {table.name} {generator}".lower()).strip("-")[:60]
        means = report.means.round(4)
        return (summary_markdown(table, report, generator, n_rows, fit_s, sample_s),
                histograms_figure(table.train, rows, columns[: limits.SYNTH_HISTOGRAM_COLUMNS]),
                correlations_figure(table.train, rows), privacy_figure(report), means, rows.head(20).round(4),
                gr.DownloadButton(value=write_csv(rows, stem), visible=True),
                gr.Dropdown(choices=list(rows.columns), value=columns[: limits.SYNTH_HISTOGRAM_COLUMNS]))

    def columns_for(dataset, upload):
        if dataset == UPLOAD and not upload:
            return gr.skip(), gr.File(visible=True)  # waiting for the file
        try:
            table = get_table(dataset, upload)
        except ValueError as e:
            warn(str(e))
            return gr.skip(), gr.File(visible=dataset == UPLOAD)
        return (gr.Dropdown(choices=list(table.train.columns), value=_default_columns(table)),
                gr.File(visible=dataset == UPLOAD))

    gr.Markdown("Fit a generative model to a real table, sample **synthetic rows**, then check them: do they look "
                "like the real data (fidelity), are they useful (train on synthetic, test on real), and do they "
                "copy real people's records (privacy)?")
    with gr.Row():
        dataset = gr.Radio([*DATASETS, UPLOAD], value=DATASETS[0], label="Real table")
        generator = gr.Radio(list(GENERATORS), value=GENERATORS[0], label="Generator")
    upload = gr.File(label="CSV with a header row", file_types=[".csv"], type="filepath", visible=False)
    with gr.Row():
        n_rows = gr.Slider(limits.SYNTH_ROWS_MIN, limits.SYNTH_ROWS_MAX, value=1000, step=50, label="Synthetic rows")
        steps = gr.Slider(limits.SYNTH_VAE_STEPS_MIN, limits.SYNTH_VAE_STEPS_MAX, value=800, step=100,
                          label="VAE training steps", info="the copula needs no training")
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    columns = gr.Dropdown(BREAST_CANCER_COLUMNS, value=BREAST_CANCER_COLUMNS[:8] + BREAST_CANCER_COLUMNS[-1:],
                          multiselect=True, max_choices=limits.SYNTH_HISTOGRAM_COLUMNS,
                          label="Columns to compare (histograms)",
                          # Fit may be clicked before a new table's columns arrive: synthesise_ui drops stale ones.
                          allow_custom_value=True)
    with gr.Row():
        run = gr.Button("Fit and sample", variant="primary")
        download = gr.DownloadButton("Download synthetic CSV", visible=False)
    summary = gr.Markdown()
    histograms = gr.Plot(label="Per-column distributions", format="png", show_label=False)
    correlations = gr.Plot(label="Correlation matrices", format="png", show_label=False)
    privacy = gr.Plot(label="Distance to the closest real record", format="png", show_label=False)
    means = gr.Dataframe(label="Column means", interactive=False)
    sample_rows = gr.Dataframe(label="The first 20 synthetic rows", interactive=False)

    run.click(synthesise_ui, inputs=[dataset, upload, generator, n_rows, steps, seed, columns],
              outputs=[summary, histograms, correlations, privacy, means, sample_rows, download, columns],
              api_name="industries_synthesise", concurrency_id=CONCURRENCY_ID, concurrency_limit=1)
    dataset.change(columns_for, inputs=[dataset, upload], outputs=[columns, upload], api_visibility="private")
    upload.change(columns_for, inputs=[dataset, upload], outputs=[columns, upload], api_visibility="private")


def _default_columns(table: Table) -> list[str]:
    cols = list(table.train.columns)
    return cols[: limits.SYNTH_HISTOGRAM_COLUMNS - 1] + [cols[-1]] if len(cols) > limits.SYNTH_HISTOGRAM_COLUMNS else cols
