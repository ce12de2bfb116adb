"""Stop buttons that end the work and keep what it made.

Gradio can cancel a running event (``cancels=[event]``), but that closes a streaming callback at a
``yield``: its last update never comes, so the page keeps its "Generating …" status and none of the
views a finished run fills. Here a Stop button sets a flag instead; the callback's loop reads it
between steps, leaves the loop as it does at its natural end, shows what it has made so far and says
that it was stopped. Nothing runs on: the loop was the only thing doing the work.

One :class:`StopFlags` per kind of work (topic 4's generation, topic 7's copywriter, ...); within it,
one flag per session (``gr.Request.session_hash``). A flag is armed when the start button is clicked,
so a Stop pressed while the work still waits in the queue counts too, and it is dropped when the work
ends: memory is bounded by the work running (plus at most ``limits.STOP_ARMED_MAX`` armed flags).

Use::

    STOPS = StopFlags()

    def generate_ui(..., request: gr.Request):
        with STOPS.running(request) as stop:
            for step in steps():
                if stop.is_set():
                    break
                yield ...
        yield final views, "stopped" if stop.is_set() else "done"

    event = generate.click(generate_ui, ...)
    STOPS.wire(generate, stop)
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr

from shared import limits


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None)


class StopFlags:
    """Per-session stop flags for one kind of long-running, step-by-step work."""

    def __init__(self):
        self._lock = threading.Lock()
        self._armed: OrderedDict[str, threading.Event] = OrderedDict()  # clicked, waiting in the queue
        self._running: dict[str, threading.Event] = {}

    def arm(self, request: gr.Request) -> None:
        """The start button was clicked: a fresh flag for the work about to be queued (unless work is running)."""
        session = _session(request)
        if session is None:
            return
        with self._lock:
            if session in self._running:  # a second click while it runs, or this click's work began already
                return
            self._armed[session] = threading.Event()
            self._armed.move_to_end(session)
            while len(self._armed) > limits.STOP_ARMED_MAX:
                self._armed.popitem(last=False)

    def stop(self, request: gr.Request) -> None:
        """The Stop button: set this session's flag, whether its work runs or still waits in the queue."""
        session = _session(request)
        with self._lock:
            flag = self._running.get(session) or self._armed.get(session)
        if flag is not None:
            flag.set()

    @contextmanager
    def running(self, request: gr.Request | None) -> Iterator[threading.Event]:
        """For the duration of the work: its flag (the one armed by the click, or a fresh one for an API call).

        Without a session (a call from Python, as in the tests) the flag is private to the caller.
        """
        session = _session(request)
        with self._lock:
            flag = self._armed.pop(session, None) or threading.Event()
            if session is not None:
                self._running[session] = flag
        try:
            yield flag
        finally:
            with self._lock:
                if self._running.get(session) is flag:
                    del self._running[session]

    def wire(self, start: gr.Button, stop: gr.Button) -> None:
        """Arm a flag when ``start`` is clicked and set it when ``stop`` is, both at once (not queued)."""
        start.click(self.arm, api_visibility="private", queue=False)
        stop.click(self.stop, api_visibility="private", queue=False)
