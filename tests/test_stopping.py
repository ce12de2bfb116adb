"""shared/stopping.py: a Stop button's flag reaches the work of its own session, queued or running, and no other."""
import types

from shared import limits
from shared.stopping import StopFlags


def session(name: str):
    """What Gradio passes as ``gr.Request``, as far as the flags read it."""
    return types.SimpleNamespace(session_hash=name)


def test_stop_sets_the_flag_of_the_running_work_of_that_session_only():
    flags = StopFlags()
    with flags.running(session("a")) as a, flags.running(session("b")) as b:
        flags.stop(session("a"))
        assert a.is_set() and not b.is_set()


def test_a_stop_pressed_while_the_work_waits_in_the_queue_counts():
    flags = StopFlags()
    flags.arm(session("a"))
    flags.stop(session("a"))
    with flags.running(session("a")) as flag:
        assert flag.is_set()


def test_a_new_click_starts_with_a_fresh_flag():
    flags = StopFlags()
    with flags.running(session("a")):
        flags.stop(session("a"))
    flags.stop(session("a"))  # nothing runs: nothing to stop, nothing kept
    flags.arm(session("a"))
    with flags.running(session("a")) as flag:
        assert not flag.is_set()


def test_a_click_while_the_work_runs_keeps_its_flag():
    flags = StopFlags()
    with flags.running(session("a")) as flag:
        flags.arm(session("a"))
        flags.stop(session("a"))
        assert flag.is_set()


def test_a_call_without_a_session_gets_a_flag_of_its_own():
    flags = StopFlags()
    with flags.running(None) as first, flags.running(None) as second:
        flags.stop(None)
        assert first is not second and not first.is_set()


def test_flags_are_bounded(monkeypatch):
    monkeypatch.setattr(limits, "STOP_ARMED_MAX", 3)
    flags = StopFlags()
    for i in range(10):
        flags.arm(session(str(i)))
    with flags.running(session("running")):
        assert len(flags._armed) == 3 and len(flags._running) == 1
    assert not flags._running
