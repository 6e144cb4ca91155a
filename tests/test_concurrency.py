"""Energy belongs to the request it came from: 200 concurrent requests on one shared client
(threads, then asyncio tasks; streaming and not, mixed) never swap or lose a joule."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from conftest import MESSAGES, MODEL, energy_attributes, neuralwatt_attributes

REQUESTS = 200


def assert_each_span_has_its_own_energy(telemetry, emulator):
    spans = telemetry.spans()
    assert len(spans) == REQUESTS
    ids = set()
    for span in spans:
        exchange = emulator.exchange(span.attributes["gen_ai.response.id"])
        assert neuralwatt_attributes(span) == energy_attributes(exchange.energy, exchange.cost)
        ids.add(exchange.response_id)
    assert len(ids) == REQUESTS
    # joules differ per request, so a swap could not go unnoticed
    assert len({e.energy["energy_joules"] for e in emulator.exchanges}) > REQUESTS // 2
    assert telemetry.total("neuralwatt.energy") == pytest.approx(
        sum(e.energy["energy_joules"] for e in emulator.exchanges), rel=1e-9)


def one_request(client, index, start):
    start.wait()
    if index % 2:
        response = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                  max_tokens=5 + index % 7)
        return "".join(c.choices[0].delta.content or "" for c in response if c.choices)
    return client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=5 + index % 7)


def test_threads_on_one_client_never_swap_energy(telemetry, emulator):
    emulator.chunk_delay = 0.001  # interleave the streams
    start = threading.Barrier(REQUESTS)
    with openai.OpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as client:
        with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
            results = list(pool.map(lambda i: one_request(client, i, start), range(REQUESTS)))

    assert all(results)
    assert_each_span_has_its_own_energy(telemetry, emulator)


async def test_asyncio_tasks_on_one_client_never_swap_energy(telemetry, emulator):
    emulator.chunk_delay = 0.001

    async def one(client, index):
        if index % 2:
            response = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                            max_tokens=5 + index % 7)
            async for _ in response:
                await asyncio.sleep(0)
            return True
        return await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=5 + index % 7)

    async with openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as client:
        results = await asyncio.gather(*(one(client, i) for i in range(REQUESTS)))

    assert all(results)
    assert_each_span_has_its_own_energy(telemetry, emulator)
