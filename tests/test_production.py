"""Production: a worker forked after `instrument()` behaves exactly like its parent; secrets and
content stay out of span status; hostile input costs bounded memory."""

import gc
import json
import os
import threading
import tracemalloc

import openai
import pytest
from conftest import MESSAGES, MODEL, faults, httpx

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
from opentelemetry_instrumentation_neuralwatt.call import deferred
from opentelemetry_instrumentation_neuralwatt.call.invocation import Invocation
from opentelemetry_instrumentation_neuralwatt.wire.payload import MAX_PAYLOAD_CHARS


def in_forked_child(work):
    """Run `work()` in a real fork of this process (as gunicorn --preload or celery prefork do)
    and return what it returned, as JSON; a failure in the child fails the test."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running the parent's test machinery
        try:
            result = {"ok": work()}
        except BaseException as error:  # noqa: B036 - everything the child meets goes to the parent
            result = {"error": f"{type(error).__name__}: {error}"}
        with os.fdopen(write, "w") as out:
            json.dump(result, out)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        result = json.load(answer)
    os.waitpid(pid, 0)
    assert "error" not in result, result["error"]
    return result["ok"]


def small_pool_client(emulator):
    """A client whose pool has two connections and waits 2 s for one: a leaked connection shows."""
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
    http_client = httpx.Client(limits=limits, timeout=httpx.Timeout(10.0, pool=2.0))
    return openai.OpenAI(base_url=emulator.base_url, api_key="sk-test", max_retries=0, http_client=http_client)


def worker_alive() -> bool:
    return any(t.name == "neuralwatt-finalizers" and t.is_alive() for t in threading.enumerate())


def test_a_forked_child_ends_the_calls_of_dropped_streams_and_frees_their_connections(telemetry, emulator):
    client = small_pool_client(emulator)

    def child():
        assert not worker_alive()  # the parent's did not survive the fork; none until a call needs one
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert worker_alive()  # a worker of its own, started by the first call
        for _ in range(20):  # ten times the pool: each dropped stream must give its connection back
            stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            next(iter(stream))
            del stream
            gc.collect()
        deferred.drain()
        client.chat.completions.create(model=MODEL, messages=MESSAGES)  # a pool timeout if one leaked
        spans = telemetry.spans()
        return {"spans": len(spans), "ids": sorted(s.attributes.get("gen_ai.response.id", "") for s in spans)}

    result = in_forked_child(child)
    assert result["spans"] == 22
    assert result["ids"] == sorted(e.response_id for e in emulator.exchanges)
    assert telemetry.spans() == []  # the child's calls are the child's


def test_a_forked_child_keeps_nothing_of_streams_read_to_the_end(telemetry, emulator):
    client = small_pool_client(emulator)

    def live_calls():
        # type(), not isinstance(): openai 1.x's lazy numpy proxy raises when asked its class.
        return sum(type(o) is Invocation for o in gc.get_objects())

    def child():
        gc.collect()
        # What the parent had alive at the fork (another test's bounded read-on, in a thread that
        # the fork did not copy) stays in the child's memory: only the child's own calls count.
        before = live_calls()
        for _ in range(200):
            stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            list(stream)
        del stream
        gc.collect()
        deferred.drain()
        joules = [s.attributes["neuralwatt.energy.joules"] for s in telemetry.spans()]
        return {"live_calls": live_calls() - before, "joules": joules}

    result = in_forked_child(child)
    assert result["live_calls"] == 0
    assert result["joules"] == [e.energy["energy_joules"] for e in emulator.exchanges]


def test_uninstrument_stops_the_worker_and_instrument_starts_it(emulator):
    instrumentor = NeuralwattInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(hosts=[f"127.0.0.1:{emulator.port}"])
    assert worker_alive()
    instrumentor.uninstrument()
    assert not worker_alive()
    instrumentor.instrument(hosts=[f"127.0.0.1:{emulator.port}"])
    assert worker_alive()
    instrumentor.uninstrument()


def test_a_huge_energy_comment_keeps_at_most_the_payload_bound_while_the_stream_lives(telemetry, client, emulator):
    """A 1 MB `: energy` line: what the stream keeps of it is a compact form (the known fields)."""
    def huge():
        return client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                              extra_headers=faults("huge-energy"))

    list(huge())  # the first call builds the SDK's models and the metric streams: not measured
    telemetry.exporter.clear()
    stream = huge()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        list(stream)
        gc.collect()
        after = tracemalloc.take_snapshot()
        kept = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    finally:
        tracemalloc.stop()
    assert len(json.dumps(emulator.exchanges[-1].energy)) > 1_000_000
    assert kept < 4 * MAX_PAYLOAD_CHARS, kept  # not the megabyte
    assert telemetry.span().attributes["neuralwatt.energy.joules"] == emulator.exchanges[-1].energy["energy_joules"]




@pytest.mark.parametrize("key", ["nw_live_7f3a9c2e41b8d605", "sk-live-0123456789abcdef", "plain-key-no-prefix"])
def test_the_clients_key_never_reaches_the_span_whatever_its_shape(telemetry, emulator, key):
    with openai.OpenAI(base_url=emulator.base_url, api_key=key, max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as raised:
            client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=faults("http-401"))

    assert key in str(raised.value)  # the server echoed it, and the user still sees the SDK's message
    span = telemetry.span()
    assert span.status.description == "AuthenticationError: HTTP 401"
    assert not any(key in str(v) for v in span.attributes.values())
    assert span.attributes["error.type"] == "AuthenticationError"


def test_anthropic_keys_never_reach_the_span(telemetry, emulator):
    import anthropic

    key = "nw_live_anthropic_5b1e0c77"
    with anthropic.Anthropic(base_url=emulator.base_url[:-3], api_key=key, max_retries=0,
                             open_telemetry=False) as client:
        with pytest.raises(anthropic.AuthenticationError):
            client.messages.create(model=MODEL, max_tokens=16, messages=MESSAGES, extra_headers=faults("http-401"))
    span = telemetry.span()
    assert span.status.description == "AuthenticationError: HTTP 401"
    assert key not in json.dumps(dict(span.attributes), default=str)


def test_an_error_echoing_the_prompt_puts_no_content_in_the_status_unless_captured(telemetry, client):
    secret_prompt = [{"role": "user", "content": "my private diagnosis is X"}]
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=MODEL, messages=secret_prompt, extra_headers=faults("http-400-echo"))

    assert "private diagnosis" in str(raised.value)
    span = telemetry.span()
    assert span.status.description == "BadRequestError: HTTP 400 (invalid_value)"
    assert not any("private diagnosis" in str(v) for v in span.attributes.values())
    assert not any("private diagnosis" in str(e.attributes) for e in span.events)


def test_with_content_captured_the_status_has_the_message_bounded_and_scrubbed(capturing, emulator):
    key = "nw_live_c4ptur3d_key_0001"
    with openai.OpenAI(base_url=emulator.base_url, api_key=key, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": key + " " + "y" * 5000}],
                                           extra_headers=faults("http-400-echo"))
    description = capturing.span().status.description
    assert description.startswith("BadRequestError: HTTP 400 (invalid_value): Error code: 400")
    assert key not in description and "[redacted]" in description
    assert len(description) == 512


def test_status_frames_keep_at_most_the_payload_bound_each():
    """64 one-megabyte `event: mcr-status` frames through the SDK's own decoder, hooked as a
    stream's is: the frames reach the SDK as they are; what we keep is 64 x the bound, not 64 MB."""
    from openai._streaming import SSEDecoder

    from opentelemetry_instrumentation_neuralwatt.wire import sse

    decoder = SSEDecoder()
    sse.hook_decoder(decoder)
    frame = json.dumps({"phase": "compacting", "detail": "x" * 1_000_000})
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(64):
            decoder.decode("event: mcr-status")
            event = decoder.decode(f"data: {frame}")
            event = decoder.decode("") if event is None else event
            assert event.event == "mcr-status" and len(event.data) == len(frame)  # the SDK's, whole
            del event
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(getattr(decoder, sse.MCR_STATUS)) == 64
    assert kept < 64 * MAX_PAYLOAD_CHARS * 1.2, kept


def test_under_gevent_a_child_process_starts_no_thread_of_ours(emulator, tmp_path):
    """gevent's patched subprocess forks (the SDK's platform probe runs `uname -p`): a worker
    started in each child made it run the parent's waiting greenlets, which forked again."""
    import subprocess
    import sys
    from pathlib import Path

    app = Path(__file__).parent / "apps" / "gevent_app.py"
    forks = {}
    for mode in ("bare", "instrumented"):
        log = tmp_path / f"{mode}.forks"
        done = subprocess.run([sys.executable, str(app), emulator.base_url, str(log), mode], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.split() == ["100"], done.stdout  # every greenlet finished
        forks[mode] = len(log.read_text().split()) if log.exists() else 0
    assert forks["instrumented"] == forks["bare"], forks
