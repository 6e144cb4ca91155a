"""The frameworks people call Neuralwatt through (the [frameworks-test] extra): one whole and one
streamed call through each, against the emulator. Each call has one span with the exact joules the
server sent, so a framework's next release cannot silently break the measurement."""


import anthropic
import openai
import pytest
from conftest import MESSAGES, MODEL, energy_attributes, neuralwatt_attributes

ANTHROPIC_MODEL = "moonshotai/Kimi-K2.6"
PROMPT = MESSAGES[0]["content"]


def assert_each_call_has_its_energy(telemetry, emulator, calls: int):
    """`calls` requests reached the server; each has exactly one span, with its exact energy."""
    assert len(emulator.exchanges) == calls
    spans = sorted(telemetry.spans(), key=lambda s: s.start_time)
    assert len(spans) == calls, [s.name for s in spans]
    for span, exchange in zip(spans, emulator.exchanges, strict=True):
        assert span.attributes["gen_ai.response.id"] == exchange.response_id
        assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
    assert telemetry.count("neuralwatt.energy") == calls
    assert telemetry.total("neuralwatt.energy") == pytest.approx(
        sum(e.energy["energy_joules"] for e in emulator.exchanges), rel=1e-12)


def test_langchain_openai(telemetry, emulator):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model=MODEL, base_url=emulator.base_url, api_key="sk-test", max_retries=0)
    answer = chat.invoke(PROMPT)
    pieces = list(chat.stream(PROMPT, stream_usage=True))
    assert answer.content and "".join(p.content for p in pieces)
    assert_each_call_has_its_energy(telemetry, emulator, 2)


async def test_langchain_openai_async(telemetry, emulator):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model=MODEL, base_url=emulator.base_url, api_key="sk-test", max_retries=0)
    await chat.ainvoke(PROMPT)
    [piece async for piece in chat.astream(PROMPT)]
    assert_each_call_has_its_energy(telemetry, emulator, 2)


def test_litellm(telemetry, emulator, monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of the price list from the internet
    import litellm

    options = {"model": f"openai/{MODEL}", "api_base": emulator.base_url, "api_key": "sk-test", "messages": MESSAGES}
    whole = litellm.completion(**options)
    streamed = list(litellm.completion(**options, stream=True, stream_options={"include_usage": True}))
    assert whole.choices[0].message.content and streamed
    assert_each_call_has_its_energy(telemetry, emulator, 2)


async def test_pydantic_ai_openai(telemetry, emulator):
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    client = openai.AsyncOpenAI(base_url=emulator.base_url, api_key="sk-test", max_retries=0)
    agent = Agent(OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=client)))
    result = await agent.run(PROMPT)
    async with agent.run_stream(PROMPT) as run:
        streamed = await run.get_output()
    assert result.output and streamed
    assert_each_call_has_its_energy(telemetry, emulator, 2)


@pytest.mark.parametrize("sdk_tracing", [False, True], ids=["sdk-tracing-off", "sdk-tracing-on"])
async def test_pydantic_ai_anthropic(telemetry, emulator, sdk_tracing):
    """pydantic-ai's Anthropic model goes through `client.beta.messages`."""
    from pydantic_ai import Agent
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    tracing = {"tracer_provider": telemetry.tracer_provider} if sdk_tracing else False
    client = anthropic.AsyncAnthropic(base_url=emulator.base_url[:-3], api_key="sk-test", max_retries=0,
                                      open_telemetry=tracing)
    agent = Agent(AnthropicModel(ANTHROPIC_MODEL, provider=AnthropicProvider(anthropic_client=client)))
    result = await agent.run(PROMPT)
    async with agent.run_stream(PROMPT) as run:
        streamed = await run.get_output()
    assert result.output and streamed
    assert_each_call_has_its_energy(telemetry, emulator, 2)


async def test_openai_agents(telemetry, emulator):
    from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled

    set_tracing_disabled(True)  # its own traces go to OpenAI's servers otherwise
    client = openai.AsyncOpenAI(base_url=emulator.base_url, api_key="sk-test", max_retries=0)
    agent = Agent(name="meter", instructions="Answer briefly.",
                  model=OpenAIChatCompletionsModel(model=MODEL, openai_client=client))
    result = await Runner.run(agent, PROMPT)
    run = Runner.run_streamed(agent, PROMPT)
    [event async for event in run.stream_events()]
    assert result.final_output and run.final_output
    assert_each_call_has_its_energy(telemetry, emulator, 2)


