"""`measure()`: the joules, carbon and cost of a block of work, summed over exactly the Neuralwatt
calls started inside it, wherever they end: nested blocks, asyncio tasks, `asyncio.to_thread`,
threads the OpenTelemetry context is carried into, streams read after the block closed."""

import asyncio
import threading

import openai
import pytest
from conftest import MESSAGES, MODEL, faults, free_port
from opentelemetry import context

from opentelemetry_instrumentation_neuralwatt import measure


def joules(exchanges):
    return sum(e.energy["energy_joules"] for e in exchanges)


def chat(client, **extra):
    return client.chat.completions.create(model=MODEL, messages=MESSAGES, **extra)


def test_a_block_sums_its_calls(telemetry, client, emulator):
    chat(client)  # before the block: not counted
    with measure() as usage:
        chat(client)
        list(chat(client, stream=True))
    chat(client)  # after it: not counted

    counted = emulator.exchanges[1:3]
    assert usage.requests == 2 and usage.unmeasured == 0
    assert usage.joules == pytest.approx(joules(counted), rel=1e-12)
    assert usage.carbon_g == pytest.approx(sum(e.energy["carbon_g_co2eq"] for e in counted), rel=1e-12)
    assert usage.cost_usd == pytest.approx(sum(e.cost["request_cost_usd"] for e in counted), rel=1e-12)


def test_nested_blocks_count_a_call_in_every_enclosing_block(telemetry, client, emulator):
    with measure() as outer:
        chat(client)
        with measure() as inner:
            chat(client)
    assert (outer.requests, inner.requests) == (2, 1)
    assert outer.joules == pytest.approx(joules(emulator.exchanges), rel=1e-12)
    assert inner.joules == emulator.exchanges[1].energy["energy_joules"]


def test_a_stream_begun_inside_counts_when_it_ends_after_the_block(telemetry, client, emulator):
    with measure() as usage:
        stream = chat(client, stream=True)
    assert usage.requests == 0  # not ended yet
    list(stream)
    assert usage.requests == 1
    assert usage.joules == emulator.exchanges[0].energy["energy_joules"]


def test_calls_without_a_measurement_are_counted_as_unmeasured(telemetry, client, emulator):
    with measure() as usage:
        chat(client, extra_headers=faults("no-measurement"))
        with pytest.raises(openai.APIStatusError):
            chat(client, extra_headers=faults("http-500"))
        stream = chat(client, stream=True)
        next(iter(stream))
        stream.close()  # left before the `: energy` line
        chat(client)
    assert usage.requests == 4 and usage.unmeasured == 3
    assert usage.joules == emulator.exchanges[-1].energy["energy_joules"]


def test_other_endpoints_do_not_count(telemetry, client):
    """A call to a host that is not Neuralwatt (and reported nothing) is not one of the block's."""
    with openai.OpenAI(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k", max_retries=0) as elsewhere:
        with measure() as usage:
            with pytest.raises(openai.APIConnectionError):
                elsewhere.chat.completions.create(model=MODEL, messages=MESSAGES)
            chat(client)
    assert usage.requests == 1 and usage.unmeasured == 0


async def test_asyncio_tasks_and_to_thread_count(telemetry, client, aclient, emulator):
    with measure() as usage:
        await asyncio.gather(*(aclient.chat.completions.create(model=MODEL, messages=MESSAGES) for _ in range(3)))
        await asyncio.to_thread(chat, client)
    assert usage.requests == 4
    assert usage.joules == pytest.approx(joules(emulator.exchanges), rel=1e-12)


def test_a_thread_counts_when_the_context_is_carried_into_it(telemetry, client, emulator):
    def carried(ctx):
        token = context.attach(ctx)  # what the threading instrumentation does
        try:
            chat(client)
        finally:
            context.detach(token)

    with measure() as usage:
        carrying = threading.Thread(target=carried, args=(context.get_current(),))
        bare = threading.Thread(target=chat, args=(client,))  # a plain thread starts with an empty context
        for thread in (carrying, bare):
            thread.start()
            thread.join()
    assert usage.requests == 1
    by_id = {e.response_id: e for e in emulator.exchanges}
    assert usage.joules in {by_id[r].energy["energy_joules"] for r in by_id}


def test_concurrent_blocks_in_threads_never_swap_calls(telemetry, client, emulator):
    usages = {}

    def worker(name, calls):
        with measure() as usage:
            ids = [chat(client).id for _ in range(calls)]
        usages[name] = (usage, ids)

    threads = [threading.Thread(target=worker, args=(n, n + 1)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    by_id = {e.response_id: e for e in emulator.exchanges}
    for name, (usage, ids) in usages.items():
        assert usage.requests == name + 1
        assert usage.joules == pytest.approx(sum(by_id[i].energy["energy_joules"] for i in ids), rel=1e-12)


async def test_a_decorated_function_is_a_block_sync_and_async(telemetry, client, aclient, emulator):
    @measure()
    def summarise():
        return chat(client).id

    @measure()
    async def asummarise():
        return (await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)).id

    summarise()
    summarise()
    await asummarise()
    assert summarise.usage.requests == 2 and asummarise.usage.requests == 1
    by_id = {e.response_id: e for e in emulator.exchanges}
    assert asummarise.usage.joules == by_id[emulator.exchanges[-1].response_id].energy["energy_joules"]
    assert summarise.usage.joules == pytest.approx(joules(emulator.exchanges[:2]), rel=1e-12)


async def test_async_with(telemetry, aclient, emulator):
    async with measure() as usage:
        stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        [chunk async for chunk in stream]
    assert usage.requests == 1 and usage.joules == emulator.exchanges[0].energy["energy_joules"]
