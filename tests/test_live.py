"""shared/live.py: steps within a budget, NaN detection, bounded history and bounded, expiring runs."""
from __future__ import annotations

import math

import gradio as gr
import pytest

from shared import live


class Counter:
    """A fake trainer whose loss is 1/step, NaN from step ``nan_at`` on."""

    def __init__(self, nan_at: int | None = None):
        self.n, self.nan_at = 0, nan_at

    def train_step(self):
        self.n += 1
        return {"loss": math.nan if self.nan_at and self.n >= self.nan_at else 1.0 / self.n}


def test_advance_runs_the_steps_asked_for_and_records_them():
    run = live.LiveRun(Counter())
    assert live.advance(run, 5, budget_s=60) == 5
    assert run.steps == 5 and run.trainer.n == 5
    assert run.history.steps == [1, 2, 3, 4, 5]
    assert run.last_metrics == {"loss": 0.2}
    assert "Step **5**" in run.status()


def test_the_status_says_when_training_is_paused():
    run = live.LiveRun(Counter(), running=True)
    live.advance(run, 5, budget_s=60)
    assert "paused" not in run.status()
    run.running = False  # Pause
    assert run.status().endswith("**paused**") and "Step **5**" in run.status()


def test_steps_per_second_count_real_time_between_ticks_not_only_training_time():
    run = live.LiveRun(Counter(), running=True)
    assert "steps/s" not in (live.advance(run, 5, budget_s=60) and run.status())  # no rate before two ticks
    run.mark_tick(now=100.0)
    live.advance(run, 30, budget_s=60)
    run.mark_tick(now=102.0)  # 30 steps took 2 s of the learner's time, however little of it train_step used
    assert run.steps_per_s() == 15.0 and "15 steps/s" in run.status()
    run.running = False
    assert "steps/s" not in run.status() and run.status().endswith("**paused**")


def test_a_tick_trains_at_least_as_long_as_the_last_redraw_took_within_bounds():
    from shared import limits

    run = live.LiveRun(Counter())
    assert run.tick_budget_s() == limits.LIVE_TICK_BUDGET_S
    run.render_s = 0.3  # a slow redraw on a busy machine: train as long, so half the learner's time is training
    assert run.tick_budget_s() == 0.3
    run.render_s = 60.0
    assert run.tick_budget_s() == limits.LIVE_TICK_BUDGET_MAX_S


def test_a_spent_time_budget_still_runs_one_step():
    run = live.LiveRun(Counter())
    assert live.advance(run, 50, budget_s=0.0) == 1


def test_nan_loss_marks_the_run_diverged_and_stops_it():
    run = live.LiveRun(Counter(nan_at=3))
    assert live.advance(run, 10, budget_s=60) == 3
    assert run.diverged and "diverged at step 3" in run.diverged and "Reset" in run.diverged
    assert live.advance(run, 10, budget_s=60) == 0  # nothing more until the learner resets
    assert run.last_metrics == {"loss": 0.5}  # the last healthy values stay on screen
    assert run.status().startswith("⚠️")


def test_a_special_step_function_replaces_train_step():
    run = live.LiveRun(Counter())
    live.advance(run, 1, step=lambda: {"loss_D": 0.7})
    assert run.trainer.n == 0 and run.last_metrics == {"loss_D": 0.7}


def test_history_stays_bounded_and_keeps_the_whole_run():
    history = live.History(max_points=100)
    for step in range(1, 10_001):
        history.append(step, {"loss": 1.0 / step})
    assert len(history) <= 100
    assert history.steps[0] == 1 and history.steps[-1] > 9_000  # from the start to (nearly) now
    assert len(history.values["loss"]) == len(history.steps)


def test_history_aligns_metrics_that_appear_later():
    history = live.History()
    history.append(1, {"a": 1.0})
    history.append(2, {"a": 2.0, "b": 3.0})
    assert history.values["a"] == [1.0, 2.0]
    assert math.isnan(history.values["b"][0]) and history.values["b"][1] == 3.0


def test_store_is_bounded_and_drops_the_least_recently_used_run():
    store = live.RunStore(max_runs=2, ttl_s=3600)
    a, b = store.put(live.LiveRun(Counter())), store.put(live.LiveRun(Counter()))
    assert store.get(a) is not None  # a is now the most recently used
    c = store.put(live.LiveRun(Counter()))
    assert len(store) == 2 and store.get(b) is None and store.get(a) and store.get(c)


def test_store_forgets_runs_after_their_lifetime():
    store = live.RunStore(max_runs=10, ttl_s=-1)  # every run is already too old when next looked at
    key = store.put(live.LiveRun(Counter()))
    assert store.get(key) is None and store.get(None) is None


MB = 2**20


class Sized(Counter):
    """A fake trainer that says how many bytes it holds."""

    def __init__(self, n_bytes: int):
        super().__init__()
        self.n_bytes = n_bytes

    def nbytes(self) -> int:
        return self.n_bytes


def sized_run(n_mb: float, running: bool = False) -> live.LiveRun:
    return live.LiveRun(Sized(int(n_mb * MB)), running=running)


def test_a_store_bounded_in_bytes_drops_the_least_recently_used_idle_runs_to_make_room_and_says_why():
    store = live.RunStore(max_runs=10, ttl_s=3600, max_bytes=100 * MB)
    looked_at, training, oldest_idle = store.put(sized_run(30)), store.put(sized_run(30, True)), store.put(sized_run(30))
    dropped = store.get(oldest_idle)
    store.get(looked_at)  # now the most recently used
    new = store.put(sized_run(30))
    assert store.get(oldest_idle) is None and not dropped.running
    assert store.get(training) is not None and store.get(looked_at) is not None and store.get(new) is not None
    assert "make room" in store.why_gone(oldest_idle) and "100 MB" in store.why_gone(oldest_idle)
    assert store.nbytes() == 90 * MB and store.why_gone(new) is None


def test_a_store_bounded_in_bytes_never_drops_runs_in_training_and_refuses_what_does_not_fit_beside_them():
    store = live.RunStore(max_runs=10, ttl_s=3600, max_bytes=100 * MB)
    keys = [store.put(sized_run(40, running=True)), store.put(sized_run(40, running=True)), store.put(sized_run(10))]
    with pytest.raises(ValueError, match="no room for this model now: it needs 30 MB, and the models in training "
                                         "on this server hold 80 MB of the 100 MB"):
        store.put(sized_run(30))
    assert all(store.get(k) is not None for k in keys)  # nothing was dropped for a run that was refused
    replaced = store.put(sized_run(55), keys[1])  # a learner's new run replaces their own: its bytes are free
    assert replaced == keys[1] and store.get(keys[2]) is None and store.nbytes() == 95 * MB


def test_over_its_count_a_store_drops_idle_runs_first_and_never_the_new_one():
    store = live.RunStore(max_runs=2, ttl_s=3600)
    training, idle = store.put(live.LiveRun(Counter(), running=True)), store.put(live.LiveRun(Counter()))
    new = store.put(live.LiveRun(Counter()))
    assert store.get(idle) is None and store.get(training) and store.get(new)
    assert "keeps at most 2 runs" in store.why_gone(idle)
    newest = store.put(live.LiveRun(Counter()))
    assert store.get(new) is None and store.get(training) and store.get(newest) and len(store) == 2


def test_put_with_a_key_replaces_the_run_under_it():
    store = live.RunStore()
    key = store.put(live.LiveRun(Counter()))
    fresh = live.LiveRun(Counter())
    assert store.put(fresh, key) == key and store.get(key) is fresh


def test_controls_and_wiring_build_inside_blocks():
    store = live.RunStore()
    with gr.Blocks() as demo:
        lr = gr.Number(0.1)
        controls = live.controls()
        out = gr.Markdown()
        wired = live.wire(controls, store, name="counter", make_trainer=lambda lr: Counter(),
                          settings=[lr], render=lambda run, lr: (f"{run.steps} steps",), outputs=[out])
    assert wired.outputs[-1] is out
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"counter_step", "counter_reset"} <= names
