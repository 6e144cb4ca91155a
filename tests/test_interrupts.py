"""Whatever happens between a span's start and its end, it ends: a KeyboardInterrupt raised at any
line our code runs, while a call is made or a stream ends, still ends the call's span (once) by
the time the objects of the call are gone, and the interrupt still reaches the user."""

import gc
import sys
from pathlib import Path

import pytest
from conftest import MESSAGES, MODEL, collect_garbage

import opentelemetry_instrumentation_neuralwatt

PACKAGE = str(Path(opentelemetry_instrumentation_neuralwatt.__file__).parent)


class InterruptAt:
    """A tracer that raises KeyboardInterrupt at the n-th point where CPython can deliver a signal
    in this package's code: a function's entry or a generator's resumption ('call' events), and
    the next iteration of a loop (a 'line' event at an earlier line of the same frame)."""

    def __init__(self, n: int):
        self.n, self.points = n, 0

    def __call__(self, frame, event, arg):
        if not frame.f_code.co_filename.startswith(PACKAGE) or "/emulator/" in frame.f_code.co_filename:
            return None
        self.point()
        last = [frame.f_lineno]

        def local(frame, event, arg):
            if event == "line":
                if frame.f_lineno < last[0]:  # jumped back: a loop's next round
                    self.point()
                last[0] = frame.f_lineno
            return local

        return local

    def point(self):
        self.points += 1
        if self.points == self.n:
            raise KeyboardInterrupt


@pytest.fixture(autouse=True)
def interrupts_in_finalizers_are_python_s(monkeypatch):
    """An interrupt that lands while the garbage collector closes a generator is printed and
    dropped by Python ("Exception ignored in"): that is not a failure of ours, anything else is."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    yield
    assert all(isinstance(u.exc_value, KeyboardInterrupt) for u in seen), [repr(u.exc_value) for u in seen]


def every_point(run, spans):
    """Run `run(tracer)` with an interrupt at point 1, 2, ... until a run has fewer points than
    that; yields n after each run, once no span is left open (or the garbage is collected)."""
    gc.freeze()  # what exists now is not this run's garbage: each collection below looks at the rest only
    try:
        yield from _points(run, spans)
    finally:
        gc.unfreeze()


def _points(run, spans):
    n = 1
    while True:
        tracer = InterruptAt(n)
        try:
            run(tracer)
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(None)
        # A stream object dropped by the interrupt ends its call when collected: collected here,
        # not wherever the next run happens to trigger the collector (inside old httpcore's pool
        # lock, closing the dropped stream's connection would wait on that lock forever).
        collect_garbage()
        if tracer.points < n:
            return
        yield n
        n += 1


class OpenSpans:
    """A span processor that counts the spans started and not ended."""

    def __init__(self):
        self.open = 0

    def on_start(self, span, parent_context=None):
        self.open += 1

    def on_end(self, span):
        self.open -= 1

    def _on_ending(self, span):
        pass

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis=30000):
        return True


def test_an_interrupt_anywhere_while_a_stream_ends_still_ends_its_span(telemetry, client):
    spans = OpenSpans()
    telemetry.tracer_provider.add_span_processor(spans)

    def run(tracer):
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        chunks = iter(stream)
        for _ in range(14):  # the emulator's chunks: a role, 12 words, the finish reason
            next(chunks)
        sys.settrace(tracer)
        try:
            with pytest.raises(StopIteration):
                next(chunks)
        finally:  # before `stream` is dropped: its generators close untraced
            sys.settrace(None)

    for n in every_point(run, spans):
        assert spans.open == 0, f"an interrupt at point {n} of the end left the span open"
    assert len(telemetry.spans()) == n + 1  # each interrupted run, and the last one
    assert n > 30  # the end path was walked point by point


def test_an_interrupt_anywhere_in_a_whole_call_still_ends_its_span(telemetry, client):
    spans = OpenSpans()
    telemetry.tracer_provider.add_span_processor(spans)

    def run(tracer):
        sys.settrace(tracer)
        try:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        finally:
            sys.settrace(None)

    for n in every_point(run, spans):
        assert spans.open == 0, f"an interrupt at point {n} left the call's span open"
    assert n > 30
