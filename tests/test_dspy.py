"""dspy (the [frameworks-test] extra), used as its users do: `dspy.LM` pointed at the emulator,
`dspy.Predict` called, awaited and streamed with `dspy.streamify`. Its default engine (lm15,
vendored in dspy) speaks HTTP itself; each request still has one span with the exact joules the
server sent, sync and async, whole and streamed. With `engine="litellm"` the openai SDK makes
the request, and it is counted once. A custom engine that makes its own HTTP calls to a
Neuralwatt host is named in one warning."""

import json
import logging
import urllib.request

import dspy  # the [frameworks-test] extra (scripts/test.sh installs it)
import openai
import pytest
from conftest import MODEL, collect_garbage, energy_attributes, header_cost_attributes, neuralwatt_attributes
from opentelemetry.trace import SpanKind, StatusCode
from test_frameworks import PROMPT, assert_each_call_has_its_energy

from opentelemetry_instrumentation_neuralwatt.call.invocation import pending
from opentelemetry_instrumentation_neuralwatt.emulator import NeuralwattEmulator
from opentelemetry_instrumentation_neuralwatt.sdk import dspy_engines

ANTHROPIC_MODEL = "moonshotai/Kimi-K2.6"
ANSWER = "Energy is measured on the GPU for every request and attributed to."  # the emulator's words


class QA(dspy.Signature):
    """Answer the question."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # dspy's model metadata: no fetch from the internet


@pytest.fixture
def emulator(request):
    """The conftest emulator, with the faults a test names (`indirect` parametrization)."""
    with NeuralwattEmulator(seed=7, faults=getattr(request, "param", ())) as running:
        yield running


def lm(emulator, model=f"openai/{MODEL}", **options):
    return dspy.LM(model, api_base=emulator.base_url, api_key="sk-test-secret", cache=False, num_retries=0, **options)


def streamed(predict, **stream_options):
    """dspy's streaming, as its docs show it: the answer's pieces, then the prediction."""
    return dspy.streamify(predict, stream_listeners=[dspy.streaming.StreamListener(signature_field_name="answer")],
                          **stream_options)


def assert_streamed(items, answer=ANSWER):
    pieces = [item.chunk for item in items if isinstance(item, dspy.streaming.StreamResponse)]
    (prediction,) = [item for item in items if isinstance(item, dspy.Prediction)]
    assert "".join(pieces) == prediction.answer == answer


def test_predict_whole_and_streamed(telemetry, emulator):
    predict = dspy.Predict(QA)
    with dspy.context(lm=lm(emulator)):
        assert predict(question=PROMPT).answer == ANSWER
        assert_streamed(list(streamed(predict, async_streaming=False)(question=PROMPT)))

    assert_each_call_has_its_energy(telemetry, emulator, 2)
    whole, stream = sorted(telemetry.spans(), key=lambda s: s.start_time)
    for span, exchange in zip((whole, stream), emulator.exchanges, strict=True):
        assert span.name == f"chat {MODEL}" and span.kind is SpanKind.CLIENT
        assert span.status.status_code is StatusCode.UNSET
        assert span.attributes["gen_ai.provider.name"] == "neuralwatt"
        assert span.attributes["neuralwatt.api"] == "chat_completions"
        assert span.attributes["gen_ai.request.model"] == MODEL
        assert span.attributes["gen_ai.response.model"] == exchange.model
        assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
        assert span.attributes["gen_ai.usage.input_tokens"] == exchange.usage["prompt_tokens"]
        assert span.attributes["gen_ai.usage.output_tokens"] == exchange.usage["completion_tokens"]
        assert (span.attributes["server.address"], span.attributes["server.port"]) == ("127.0.0.1", emulator.port)
        # The response headers: the subscription quota, on streams too.
        assert span.attributes["neuralwatt.quota.subscription_plan"] == exchange.response_headers["x-subscription-plan"]
    assert not emulator.exchanges[0].stream and emulator.exchanges[1].stream
    assert stream.attributes["gen_ai.request.stream"] is True
    assert stream.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert telemetry.count("gen_ai.client.operation.time_to_first_chunk") == 1
    assert telemetry.total("gen_ai.client.token.usage") == sum(
        e.usage["prompt_tokens"] + e.usage["completion_tokens"] for e in emulator.exchanges)


async def test_predict_async_whole_and_streamed(telemetry, emulator):
    predict = dspy.Predict(QA)
    with dspy.context(lm=lm(emulator)):
        assert (await predict.acall(question=PROMPT)).answer == ANSWER
        assert_streamed([item async for item in streamed(predict, is_async_program=True)(question=PROMPT)])

    assert_each_call_has_its_energy(telemetry, emulator, 2)
    assert telemetry.spans()[-1].attributes["gen_ai.request.stream"] is True


async def test_concurrent_calls_each_get_their_own_energy(telemetry, emulator):
    import asyncio

    predict = dspy.Predict(QA)

    async def stream(question):
        return [item async for item in streamed(predict, is_async_program=True)(question=question)]

    with dspy.context(lm=lm(emulator)):
        await asyncio.gather(*(predict.acall(question=f"{PROMPT} {i}") for i in range(4)),
                             *(stream(f"{PROMPT} streamed {i}") for i in range(4)))
    # Spans and exchanges in the same order (the first exchange's call started first is not
    # promised under concurrency): matched by response id instead.
    by_id = {e.response_id: e for e in emulator.exchanges}
    spans = telemetry.spans()
    assert len(spans) == len(by_id) == 8
    for span in spans:
        exchange = by_id[span.attributes["gen_ai.response.id"]]
        assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)


@pytest.mark.parametrize("emulator", [("keepalive",), ("crlf",), ("split-comment",), ("energy-in-data",),
                                      ("repeated-energy",), ("no-measurement",)], indirect=True,
                         ids=lambda faults: faults[0])
def test_stream_wire_variants_keep_the_exact_energy(telemetry, emulator):
    with dspy.context(lm=lm(emulator)):
        assert_streamed(list(streamed(dspy.Predict(QA), async_streaming=False)(question=PROMPT)))

    (exchange,) = emulator.exchanges
    assert neuralwatt_attributes(telemetry.span()) == energy_attributes(exchange.energy, exchange.cost)


def test_anthropic_messages_through_dspy(telemetry, emulator):
    predict = dspy.Predict(QA)
    answer = ANSWER  # dspy's max_tokens is above the answer's length: finished, as on chat completions
    with dspy.context(lm=lm(emulator, f"anthropic/{ANTHROPIC_MODEL}")):
        assert predict(question=PROMPT).answer == answer
        assert_streamed(list(streamed(predict, async_streaming=False)(question=PROMPT)), answer)

    assert [e.path for e in emulator.exchanges] == ["/v1/messages"] * 2
    assert_each_call_has_its_energy(telemetry, emulator, 2)
    assert {s.attributes["neuralwatt.api"] for s in telemetry.spans()} == {"messages"}


@pytest.mark.parametrize("emulator", [("http-429",)], indirect=True)
async def test_a_refused_request_is_one_error_span(telemetry, emulator):
    predict = dspy.Predict(QA)
    with dspy.context(lm=lm(emulator)), pytest.raises(Exception):
        predict(question=PROMPT)
    with dspy.context(lm=lm(emulator)), pytest.raises(Exception):
        [item async for item in streamed(predict, is_async_program=True)(question=PROMPT)]

    spans = telemetry.spans()
    assert len(spans) == len(emulator.exchanges) == 2
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == "RateLimitError"
        assert not neuralwatt_attributes(span)
    assert telemetry.count("neuralwatt.energy") == 0


def test_another_hosts_energy_reaches_the_metrics_without_a_span(telemetry, caplog):
    with NeuralwattEmulator(seed=3) as unlisted, caplog.at_level(logging.WARNING):
        with dspy.context(lm=lm(unlisted)):
            dspy.Predict(QA)(question=PROMPT)
            list(streamed(dspy.Predict(QA), async_streaming=False)(question=PROMPT))

    assert telemetry.spans() == []
    assert telemetry.total("neuralwatt.energy") == pytest.approx(
        sum(e.energy["energy_joules"] for e in unlisted.exchanges), rel=1e-12)
    assert len([r for r in caplog.records if "is not listed" in r.getMessage()]) == 1


def test_the_litellm_engine_is_counted_once(telemetry, emulator):
    """dspy's `engine="litellm"` goes through the openai SDK: its spans, not a second set of ours."""
    predict = dspy.Predict(QA)
    with dspy.context(lm=lm(emulator, engine="litellm")):
        assert predict(question=PROMPT).answer == ANSWER
        assert_streamed(list(streamed(predict, async_streaming=False)(question=PROMPT)))

    assert_each_call_has_its_energy(telemetry, emulator, 2)


class OwnHttpEngine:
    """A custom dspy engine that posts the request itself (urllib): nothing of ours sees it."""

    def __init__(self, base_url):
        self.base_url = base_url

    def complete(self, request):
        body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}).encode()
        post = urllib.request.Request(f"{self.base_url}/chat/completions", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(post) as answer:
            return dspy.lm15.response_from_openai_chat(json.load(answer))


class OpenAIEngine(OwnHttpEngine):
    """A custom engine that makes its request with the openai SDK: measured like any other."""

    def complete(self, request):
        with openai.OpenAI(base_url=self.base_url, api_key="sk-test", max_retries=0) as client:
            answer = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
        return dspy.lm15.response_from_openai_chat(answer.model_dump())


def test_a_custom_engine_that_cannot_be_measured_is_named_once(telemetry, emulator, caplog, monkeypatch):
    monkeypatch.setattr(dspy_engines, "_warned", set())  # once per process: as if this process were new
    with caplog.at_level(logging.WARNING, logger="opentelemetry_instrumentation_neuralwatt"):
        for engine in (OwnHttpEngine(emulator.base_url), OwnHttpEngine(emulator.base_url),
                       OpenAIEngine(emulator.base_url)):
            dspy.LM(f"openai/{MODEL}", engine=engine, cache=False)("Hi")

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "OwnHttpEngine" in warnings[0] and "not measured" in warnings[0], warnings
    assert len(emulator.exchanges) == 3
    (span,) = telemetry.spans()  # the openai SDK's call
    assert span.attributes["gen_ai.response.id"] == emulator.exchanges[2].response_id


class AsyncOwnHttpEngine(OwnHttpEngine):
    async def complete(self, request):
        import asyncio

        return await asyncio.to_thread(OwnHttpEngine.complete, self, request)


async def test_an_async_custom_engine_that_cannot_be_measured_is_named(telemetry, emulator, caplog, monkeypatch):
    monkeypatch.setattr(dspy_engines, "_warned", set())
    model = dspy.LM(f"openai/{MODEL}", engine=OwnHttpEngine(emulator.base_url),
                    async_engine=AsyncOwnHttpEngine(emulator.base_url), cache=False)
    with caplog.at_level(logging.WARNING, logger="opentelemetry_instrumentation_neuralwatt"):
        await model.acall("Hi")

    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "custom engine AsyncOwnHttpEngine" in warning
    assert telemetry.spans() == [] and len(emulator.exchanges) == 1


def test_a_custom_engine_pointed_elsewhere_is_not_named(telemetry, caplog):
    with NeuralwattEmulator(seed=3) as unlisted, caplog.at_level(logging.WARNING):
        dspy.LM(f"openai/{MODEL}", engine=OwnHttpEngine(unlisted.base_url), cache=False)("Hi")

    assert not [r for r in caplog.records if "custom engine" in r.getMessage()]


def lm15_request():
    return dspy.lm15.Request(model=MODEL, messages=(dspy.lm15.Message.user(PROMPT),))


def test_an_lm15_stream_closed_early_ends_its_call_once_without_inventing_energy(telemetry, emulator):
    """dspy.lm15 used directly: a stream left after its first event is one span, with no energy
    (its `: energy` line was never read), ended once the stream is closed."""
    provider = dspy.lm15.OpenAIChatLM(api_key="sk-test", base_url=emulator.base_url)
    provider.stream(lm15_request())  # never iterated: lm15 sends nothing, and no call starts
    events = provider.stream(lm15_request())
    next(events)
    events.close()
    collect_garbage()  # a closed generator's call ends on the instrumentation's worker thread

    assert pending.get() is None  # pending only while lm15 opened the response
    assert len(emulator.exchanges) == 1

    span = telemetry.span()
    assert span.status.status_code is StatusCode.UNSET
    # No energy is invented; the cost the response headers stated is recorded.
    assert neuralwatt_attributes(span) == header_cost_attributes(emulator.exchanges[-1])
    assert telemetry.count("neuralwatt.energy") == 0


async def test_an_async_lm15_stream_closed_early_ends_its_call_once(telemetry, emulator):
    events = dspy.lm15.AsyncOpenAIChatLM(api_key="sk-test", base_url=emulator.base_url).stream(lm15_request())
    await events.__anext__()
    await events.aclose()

    span = telemetry.span()
    assert neuralwatt_attributes(span) == header_cost_attributes(emulator.exchanges[-1])
    assert "error.type" not in span.attributes


def test_after_uninstrument_dspy_records_nothing(telemetry, emulator):
    from dspy._vendor.lm15.providers.base import BaseProviderLM

    from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

    NeuralwattInstrumentor().uninstrument()
    assert not hasattr(BaseProviderLM.__dict__["_send"], "__wrapped__")
    with dspy.context(lm=lm(emulator)):
        dspy.Predict(QA)(question=PROMPT)
        list(streamed(dspy.Predict(QA), async_streaming=False)(question=PROMPT))

    assert telemetry.spans() == [] and telemetry.count("neuralwatt.energy") == 0


IMPORTED_LATER = """
import sys
from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor
NeuralwattInstrumentor().instrument()
assert "dspy" not in sys.modules  # patched only once dspy is imported
import dspy
from dspy._vendor.lm15.providers.base import BaseProviderLM
print(BaseProviderLM.__dict__["_send"].__wrapped__.__name__)
"""


def test_dspy_is_patched_when_it_is_imported():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", IMPORTED_LATER], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "_send"
