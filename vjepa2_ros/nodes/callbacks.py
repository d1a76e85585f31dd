"""Callbacks in flight (nodes that must not tear down under a running callback), and long
calls run beside a single-threaded executor."""

from __future__ import annotations

import contextlib
import threading
import time

from rclpy.task import Future


class CallbackGate:
    """Counts callbacks in flight; once closed, new ones do nothing and `close` waits for the rest.

    with gate.enter() as live:
        if live: ...           # False once the node is closing
    """

    def __init__(self) -> None:
        self._closing = False
        self._in_flight = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def enter(self):
        with self._idle:
            live = not self._closing
            if live:
                self._in_flight += 1
        try:
            yield live
        finally:
            if live:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()

    def refuse(self) -> None:
        """From now on callbacks do nothing (`enter` yields False)."""
        with self._idle:
            self._closing = True

    def drain(self, timeout_s: float) -> int:
        """Wait for running callbacks; returns how many are still running after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())
            return self._in_flight


def run_in_thread(executor, fn, name: str) -> Future:
    """Run `fn()` in its own thread; returns a Future to `await` in an async callback.

    The executor keeps serving other callbacks meanwhile, and wakes when `fn` is done. An
    exception in `fn` becomes the Future's exception (raised at the await), never lost.
    """
    done = Future(executor=executor)
    done.add_done_callback(lambda _: None)  # a done callback is what wakes the executor

    def work() -> None:
        try:
            done.set_result(fn())
        except Exception as exc:  # handed to the awaiting callback
            done.set_exception(exc)

    threading.Thread(target=work, name=name, daemon=True).start()
    return done
