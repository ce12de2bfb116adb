"""Live training: a model learns in small steps while the learner watches, pauses, changes a setting, resumes.

The idea is TensorFlow Playground's and GAN Lab's: training is a loop of short steps, and the page
redraws between them. Here the loop is driven by the page itself: a ``gr.Timer`` ticks a few times a
second while the learner has pressed Play; each tick runs as many training steps as fit in a small
time budget (tens of milliseconds), then redraws. No thread runs in the background, so a paused or
closed page costs nothing, and one learner's tick never holds the server for long.

Two layers, so topic 2 (GAN, VAE, diffusion) and topic 3 (a neural network) share one mechanism:

- model side (no gradio): a *trainer* is any object with ``train_step() -> dict[str, float]`` (one
  small optimisation step, returning its metrics, e.g. ``{"loss": 0.31}``) and, optionally,
  ``configure(**settings)`` (apply settings that may change mid-training, such as learning rates).
  :class:`LiveRun` wraps a trainer with its step count, a bounded metric history and NaN detection;
  :func:`advance` runs steps within a budget; :class:`RunStore` keeps every learner's run, bounded
  in number and lifetime.
- UI side: :func:`controls` lays out Play / Pause / Step / Reset and a status line; :func:`wire`
  connects them to a store, a trainer factory and a render function.

Each learner's ``gr.State`` holds only a random key into the store, so memory is bounded by
``max_runs`` however many learners there are; a run unused for ``ttl_s`` seconds is dropped (the
learner sees "press Play to start again", never a crash).
"""
from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import gradio as gr

from shared import limits
from shared.device import torch_threads
from shared.ui import friendly_errors, warn


class Trainer(Protocol):
    def train_step(self) -> dict[str, float]:
        """One small optimisation step; returns its metrics (finite floats while training is healthy)."""
        ...


class History:
    """Metric values over training steps, at most ``max_points`` of them however long training runs.

    When full, every other point is dropped and from then on only every ``stride``-th step is kept,
    so the whole run stays visible at a coarser resolution.
    """

    def __init__(self, max_points: int = limits.LIVE_HISTORY_POINTS):
        self.max_points = max_points
        self.stride = 1
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {}

    def append(self, step: int, metrics: dict[str, float]) -> None:
        if step % self.stride:
            return
        self.steps.append(step)
        for name, value in metrics.items():
            self.values.setdefault(name, [math.nan] * (len(self.steps) - 1)).append(float(value))
        for values in self.values.values():
            if len(values) < len(self.steps):
                values.append(math.nan)
        if len(self.steps) > self.max_points:
            self.steps = self.steps[::2]
            self.values = {k: v[::2] for k, v in self.values.items()}
            self.stride *= 2

    def __len__(self) -> int:
        return len(self.steps)


@dataclass
class LiveRun:
    """One learner's model in training: the trainer, how far it got, and whether it diverged."""

    trainer: Any
    settings: dict = field(default_factory=dict)
    steps: int = 0
    train_s: float = 0.0  # seconds spent inside train_step, for "training time" figures
    history: History = field(default_factory=History)
    diverged: str | None = None  # a learner-readable message once a metric became NaN or infinite
    running: bool = False  # the learner pressed Play and not Pause since
    last_metrics: dict[str, float] = field(default_factory=dict)
    # (time.monotonic(), steps) after each tick while playing: the real-time rate the learner sees, which
    # counts redrawing and waiting for the next tick too, not only the seconds inside train_step
    ticks: deque = field(default_factory=lambda: deque(maxlen=limits.LIVE_RATE_TICKS), repr=False)
    render_s: float = 0.0  # how long the last redraw took
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def mark_tick(self, now: float | None = None) -> None:
        """Record where training stands now, for :meth:`steps_per_s`."""
        self.ticks.append((time.monotonic() if now is None else now, self.steps))

    def tick_budget_s(self) -> float:
        """Training time for the next tick: at least as long as the last redraw took (up to
        ``limits.LIVE_TICK_BUDGET_MAX_S``), so that at least half of a learner's time at Play is training.
        On a busy machine a redraw takes up to 0.7 s: with a fixed 60 ms the page trained 10% of the time."""
        return min(max(limits.LIVE_TICK_BUDGET_S, self.render_s), limits.LIVE_TICK_BUDGET_MAX_S)

    def steps_per_s(self) -> float | None:
        """Training steps per second of real (wall-clock) time over the last ticks; ``None`` before two ticks."""
        if len(self.ticks) < 2 or self.ticks[-1][0] <= self.ticks[0][0]:
            return None
        (t0, s0), (t1, s1) = self.ticks[0], self.ticks[-1]
        return (s1 - s0) / (t1 - t0)

    def nbytes(self) -> int:
        """Bytes the run holds in memory: its trainer's ``nbytes()`` where the trainer tells (topic 10's
        models), else 0 (the small live models of topics 1-3, bounded by their number)."""
        nbytes = getattr(self.trainer, "nbytes", None)
        return nbytes() if nbytes is not None else 0

    def status(self) -> str:
        """One line for the page: step count, latest metrics, real steps per second while playing, or whether
        it is paused, or the divergence message."""
        if self.diverged:
            return f"⚠️ {self.diverged}"
        if not self.steps:
            return "Not trained yet: press **Play** (or **Step**)."
        shown = " · ".join(f"{k} {v:.4g}" for k, v in self.last_metrics.items())
        if not self.running:
            return f"Step **{self.steps:,}** · {shown} · **paused**"
        rate = self.steps_per_s()
        return f"Step **{self.steps:,}** · {shown}" + (f" · {rate:,.0f} steps/s" if rate is not None else "")


def one_thread():
    """Run torch on this thread only, for the duration (see ``shared.device.torch_threads``).

    The live models are tiny: on a busy 2-core machine a GAN step took 157 ms with 2 threads, 3.3 ms with 1.
    """
    return torch_threads(1)


def _first_non_finite(metrics: dict[str, float]) -> str | None:
    for name, value in metrics.items():
        if not math.isfinite(float(value)):
            return name
    return None


def advance(run: LiveRun, max_steps: int, budget_s: float = limits.LIVE_TICK_BUDGET_S,
            step: Callable[[], dict[str, float]] | None = None) -> int:
    """Run up to ``max_steps`` training steps, stopping early once ``budget_s`` seconds have passed.

    At least one step runs (unless the run has diverged). ``step`` replaces ``run.trainer.train_step``
    for special steps (e.g. a GAN's discriminator-only step). A step whose metrics are NaN or infinite
    marks the run diverged (``run.diverged`` holds the message) and stops it; further calls do nothing
    until the learner resets.

    Returns:
        The number of steps run.
    """
    step = step or run.trainer.train_step
    done = 0
    with run.lock, one_thread():
        start = time.perf_counter()
        while done < max_steps and not run.diverged:
            t0 = time.perf_counter()
            metrics = step()
            run.train_s += time.perf_counter() - t0
            run.steps += 1
            done += 1
            bad = _first_non_finite(metrics)
            if bad is not None:
                run.diverged = (
                    f"Training diverged at step {run.steps:,}: the {bad} became {metrics[bad]}. "
                    "Lower the learning rate, then press Reset."
                )
                break
            run.last_metrics = {k: float(v) for k, v in metrics.items()}
            run.history.append(run.steps, metrics)
            if time.perf_counter() - start >= budget_s:
                break
    return done


class RunStore:
    """Every learner's :class:`LiveRun`, keyed by a random string kept in the learner's ``gr.State``.

    Bounded: at most ``max_runs`` runs, and a run untouched for ``ttl_s`` seconds is dropped. With
    ``max_bytes``, the runs also hold at most that many bytes together (each run's :meth:`LiveRun.nbytes`):
    to make room for a new run, the least recently used runs that are not training (paused or finished) are
    dropped; runs in training are never dropped for room, so a new run that does not fit beside them is
    refused with a sentence. Over ``max_runs``, idle runs go first too. A dropped run stops training, and
    :meth:`why_gone` tells its learner what happened to it. Thread-safe.
    """

    def __init__(self, max_runs: int = limits.LIVE_MAX_RUNS, ttl_s: float = limits.LIVE_RUN_TTL_S,
                 max_bytes: int | None = None):
        self.max_runs, self.ttl_s, self.max_bytes = max_runs, ttl_s, max_bytes
        self._runs: OrderedDict[str, tuple[float, LiveRun]] = OrderedDict()
        self._gone: OrderedDict[str, str] = OrderedDict()  # key -> why its run was dropped
        self._lock = threading.Lock()

    def _drop(self, key: str, why: str) -> None:
        _, run = self._runs.pop(key)
        run.running = False  # a run trained in the background (topic 10) ends its thread
        self._gone[key] = why
        while len(self._gone) > limits.LIVE_GONE_KEPT:
            self._gone.popitem(last=False)

    def _oldest_first(self, skip: str | None = None) -> list[str]:
        """Keys, least recently used first, runs that are not training before those that are."""
        keys = [k for k in self._runs if k != skip]
        return sorted(keys, key=lambda k: self._runs[k][1].running)  # stable: keeps the LRU order within each

    def _expire(self, now: float, keep: str | None = None) -> None:
        """Drop the runs past their lifetime, then the oldest over ``max_runs`` (never the run under ``keep``)."""
        for key in [k for k, (t, _) in self._runs.items() if now - t > self.ttl_s and k != keep]:
            self._drop(key, f"it was unused for {self.ttl_s / 60:.0f} minutes")
        for key in self._oldest_first(skip=keep)[:max(0, len(self._runs) - self.max_runs)]:
            self._drop(key, f"the server keeps at most {self.max_runs} runs, and yours was among the least "
                            "recently used")

    def _make_room(self, run: LiveRun, key: str) -> None:
        """Drop idle runs, least recently used first, until ``run`` fits beside the others (replacing the
        run under ``key``). Raises ``ValueError`` (dropping nothing) if it cannot fit beside the runs in training."""
        if self.max_bytes is None:
            return
        need = run.nbytes()
        others = self._oldest_first(skip=key)
        held = {k: self._runs[k][1].nbytes() for k in others}
        in_training = sum(b for k, b in held.items() if self._runs[k][1].running)
        if in_training + need > self.max_bytes:
            raise ValueError(
                f"There is no room for this model now: it needs {mib(need)}, and the models in training on this "
                f"server hold {mib(in_training)} of the {mib(self.max_bytes)} kept for them. Try again when one "
                "has finished, or choose a smaller model.")
        total = sum(held.values()) + need
        for k in others:
            if total <= self.max_bytes:
                break
            total -= held[k]
            self._drop(k, f"it was dropped to make room for a newer one (the server keeps {mib(self.max_bytes)} "
                          "of models, and yours was the least recently used)")

    def put(self, run: LiveRun, key: str | None = None) -> str:
        """Store ``run`` (under ``key`` if given, replacing what was there) and return its key.

        Raises:
            ValueError: with ``max_bytes``, the run does not fit beside the runs in training (nothing changes).
        """
        key = key or secrets.token_hex(8)
        with self._lock:
            now = time.monotonic()
            self._expire(now, keep=key)
            self._make_room(run, key)
            self._runs[key] = (now, run)
            self._runs.move_to_end(key)
            self._gone.pop(key, None)
            self._expire(now, keep=key)
        return key

    def get(self, key: str | None) -> LiveRun | None:
        """The run under ``key``, or ``None`` if there is none (never created, expired or dropped)."""
        if not key:
            return None
        with self._lock:
            now = time.monotonic()
            self._expire(now)
            item = self._runs.get(key)
            if item is None:
                return None
            self._runs[key] = (now, item[1])
            self._runs.move_to_end(key)
            return item[1]

    def why_gone(self, key: str | None) -> str | None:
        """Why the run under ``key`` was dropped (a clause: "it was unused for 30 minutes"), or ``None``."""
        with self._lock:
            return self._gone.get(key) if key else None

    def drop(self, key: str | None) -> None:
        with self._lock:
            self._runs.pop(key, None)

    def nbytes(self) -> int:
        """Bytes the stored runs hold together (:meth:`LiveRun.nbytes`)."""
        with self._lock:
            return sum(run.nbytes() for _, run in self._runs.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)


def mib(n_bytes: float) -> str:
    """``n_bytes`` for a learner: "12 MB" (mebibytes, as the README's memory figures)."""
    return f"{n_bytes / 2**20:,.0f} MB"


# ---------------------------------------------------------------------------------------------
# The UI side: buttons, a timer, and the event wiring every live demo shares
# ---------------------------------------------------------------------------------------------

@dataclass
class Wired:
    """What :func:`wire` connected, for a demo that wants to trigger a reset from another event, or to
    redraw once training is paused (``paused.then(...)``)."""

    reset: Callable
    inputs: list
    outputs: list
    paused: Any = None  # the Pause button's event


@dataclass
class LiveControls:
    key: gr.State
    timer: gr.Timer
    play: gr.Button
    pause: gr.Button
    step: gr.Button
    reset: gr.Button
    status: gr.Markdown


def controls(tick_s: float = limits.LIVE_TICK_S, main_action: bool = False) -> LiveControls:
    """Lay out Play / Pause / Step / Reset, a status line and the (inactive) timer that drives training.

    ``main_action`` marks Play as its topic's main action (``cm-main-action``: kept on the first screen).
    """
    key = gr.State(None)
    timer = gr.Timer(tick_s, active=False)
    with gr.Row():
        play = gr.Button("▶ Play", variant="primary", min_width=80,
                         elem_classes=["cm-main-action"] if main_action else None)
        pause = gr.Button("Pause", min_width=80)
        step = gr.Button("Step +1", min_width=80)
        reset = gr.Button("↺ Reset", variant="stop", min_width=80)
    status = gr.Markdown("Not trained yet: press **Play** (or **Step**).")
    return LiveControls(key, timer, play, pause, step, reset, status)


def wire(
    c: LiveControls,
    store: RunStore,
    *,
    name: str,
    make_trainer: Callable[..., Any],
    settings: Sequence[gr.components.Component],
    render: Callable[..., tuple],
    outputs: Sequence[gr.components.Component],
    steps_per_tick: int = limits.LIVE_MAX_STEPS_PER_TICK,
    extra_steps: dict[gr.Button, Callable[[Any], Callable[[], dict[str, float]]]] | None = None,
    concurrency_id: str | None = None,
) -> Wired:
    """Connect the controls to a trainer.

    Args:
        name: prefix of the API names (``{name}_step``, ``{name}_reset``).
        make_trainer: ``make_trainer(*setting_values) -> trainer``; raises ``ValueError`` for bad settings.
            Called on Reset, and on Play / Step when the learner has no run yet (or it expired).
        settings: the components whose values ``make_trainer`` takes, in order. Each tick also passes
            them to ``trainer.configure(*values)`` when the trainer has one, so a learner can change
            settings such as learning rates mid-training.
        render: ``render(run, *setting_values) -> values for outputs`` (figures, tables), called after
            every tick; it gets the settings too, for views that depend on them (e.g. a point to decode).
        extra_steps: more step buttons, e.g. ``{d_step_button: lambda trainer: trainer.discriminator_step}``.
    """
    all_outputs = [c.key, c.timer, c.status, *outputs]

    def get_or_create(key, values):
        run = store.get(key)
        if run is None:
            run = LiveRun(make_trainer(*values))
            key = store.put(run)
        elif hasattr(run.trainer, "configure"):
            run.trainer.configure(*values)
        return key, run

    def show(key, run, values):
        if run.diverged and run.running:
            warn(run.diverged)
        run.running = run.running and not run.diverged
        # A tick still in flight when Pause is pressed must not switch the timer back on: it asks the run.
        with one_thread():
            start = time.perf_counter()
            views = render(run, *values)
            run.render_s = time.perf_counter() - start
            return (key, gr.Timer(active=run.running), run.status(), *views)

    @friendly_errors
    def play(key, *values):
        key, run = get_or_create(key, values)
        run.running = True
        run.ticks.clear()  # the rate counts from this Play on, not across a pause
        run.mark_tick()
        return show(key, run, values)

    @friendly_errors
    def tick(key, *values):
        key, run = get_or_create(key, values)
        if run.running:
            advance(run, steps_per_tick, budget_s=run.tick_budget_s())
            run.mark_tick()
        return show(key, run, values)

    def pause(key):
        run = store.get(key)
        if run is None:
            return gr.Timer(active=False), gr.skip()
        run.running = False
        return gr.Timer(active=False), run.status()

    def one_step(choose: Callable[[Any], Callable] | None):
        @friendly_errors
        def fn(key, *values):
            key, run = get_or_create(key, values)
            run.running = False
            advance(run, 1, step=choose(run.trainer) if choose else None)
            return show(key, run, values)

        return fn

    @friendly_errors
    def reset(key, *values):
        with one_thread():
            run = LiveRun(make_trainer(*values))
            key = store.put(run, key)
            return (key, gr.Timer(active=False), run.status(), *render(run, *values))

    inputs = [c.key, *settings]
    common = dict(concurrency_id=concurrency_id or name)
    c.play.click(play, inputs, all_outputs, api_visibility="private", **common)
    c.timer.tick(tick, inputs, all_outputs, api_visibility="private", **common)
    paused = c.pause.click(pause, [c.key], [c.timer, c.status], api_visibility="private", queue=False)
    c.step.click(one_step(None), inputs, all_outputs, api_name=f"{name}_step", **common)
    c.reset.click(reset, inputs, all_outputs, api_name=f"{name}_reset", **common)
    for button, choose in (extra_steps or {}).items():
        button.click(one_step(choose), inputs, all_outputs, api_visibility="private", **common)
    return Wired(reset, inputs, all_outputs, paused)
