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


# -- misuse: exact totals, and no block left open, whatever the pattern --

def blocks_open():
    from opentelemetry_instrumentation_neuralwatt.telemetry import blocks as collect

    return collect.current()


def test_the_same_block_entered_inside_itself_counts_each_call_once_and_closes(telemetry, client, emulator):
    usage = measure()
    with usage:
        with usage:
            chat(client)
        chat(client)
    chat(client)  # after both closed: not counted
    assert usage.requests == 2
    assert usage.joules == pytest.approx(joules(emulator.exchanges[:2]), rel=1e-12)
    assert blocks_open() == ()


def test_one_block_shared_by_threads_counts_exactly_their_calls(telemetry, client, emulator, caplog):
    usage = measure()
    ids: list = []
    start = threading.Barrier(4)

    def worker():
        start.wait()
        with usage:
            ids.extend(chat(client).id for _ in range(20))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    chat(client)  # the main thread never entered it
    assert usage.requests == 80 and len(ids) == 80
    by_id = {e.response_id: e for e in emulator.exchanges}
    assert usage.joules == pytest.approx(sum(by_id[i].energy["energy_joules"] for i in ids), rel=1e-12)
    assert not [r for r in caplog.records if "detach" in r.getMessage()]


def test_blocks_closed_out_of_order_count_exactly_and_leave_nothing_open(telemetry, client, emulator):
    outer, inner = measure(), measure()
    outer.__enter__()
    inner.__enter__()
    chat(client)
    outer.__exit__(None, None, None)  # before inner: closed now, inner stays open
    chat(client)
    inner.__exit__(None, None, None)
    chat(client)
    assert (outer.requests, inner.requests) == (1, 2)
    assert blocks_open() == ()


def test_a_generator_suspended_inside_a_block_does_not_count_its_consumers_calls(telemetry, client, emulator):
    found = {}

    def answers():
        with measure() as usage:
            found["usage"] = usage
            yield chat(client).id
            yield chat(client).id

    own = []
    for answer in answers():
        own.append(answer)
        chat(client)  # the consumer's, while the generator is suspended in its block
    by_id = {e.response_id: e for e in emulator.exchanges}
    assert found["usage"].requests == 2
    assert found["usage"].joules == pytest.approx(sum(by_id[i].energy["energy_joules"] for i in own), rel=1e-12)
    assert blocks_open() == ()


def test_a_generator_resumed_on_other_threads_counts_its_own_calls_and_leaves_no_block_behind(
        telemetry, client, emulator):
    """As a web framework runs a sync streaming generator: each step on a thread of a pool."""
    from concurrent.futures import ThreadPoolExecutor

    found = {}

    def answers():
        with measure() as usage:
            found["usage"] = usage
            for _ in range(3):
                yield chat(client).id

    generator = answers()
    own = [next(generator)]  # first step here, in the main thread
    with ThreadPoolExecutor(2) as pool:
        own += [pool.submit(next, generator).result() for _ in range(2)]
        assert pool.submit(next, generator, None).result() is None  # the block exits on a pool thread
    chat(client)  # the main thread, where the block was opened: not counted
    by_id = {e.response_id: e for e in emulator.exchanges}
    assert found["usage"].requests == 3
    assert found["usage"].joules == pytest.approx(sum(by_id[i].energy["energy_joules"] for i in own), rel=1e-12)
    assert blocks_open() == ()


def test_a_context_manager_generator_counts_its_callers_calls(telemetry, client, emulator):
    from contextlib import contextmanager

    @contextmanager
    def budget():
        with measure() as usage:
            yield usage

    with budget() as usage:
        chat(client)
        chat(client)
    chat(client)
    assert usage.requests == 2 and usage.joules == pytest.approx(joules(emulator.exchanges[:2]), rel=1e-12)


async def test_an_async_generator_counts_the_tasks_it_starts_not_its_consumers_calls(telemetry, aclient, emulator):
    found = {}

    async def answers():
        async with measure() as usage:
            found["usage"] = usage
            made = await asyncio.gather(*(aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
                                          for _ in range(2)))
            yield [m.id for m in made]

    own = []
    async for ids in answers():
        own += ids
        await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)  # the consumer's
    by_id = {e.response_id: e for e in emulator.exchanges}
    assert found["usage"].requests == 2
    assert found["usage"].joules == pytest.approx(sum(by_id[i].energy["energy_joules"] for i in own), rel=1e-12)


def test_a_decorated_generator_function_counts_its_steps_not_its_consumer(telemetry, client, emulator):
    @measure()
    def answers(n):
        for _ in range(n):
            yield chat(client).id

    own = []
    for answer in answers(2):
        own.append(answer)
        chat(client)
    by_id = {e.response_id: e for e in emulator.exchanges}
    assert answers.usage.requests == 2
    assert answers.usage.joules == pytest.approx(sum(by_id[i].energy["energy_joules"] for i in own), rel=1e-12)
    assert blocks_open() == ()


def test_a_decorated_generator_passes_send_and_throw_through(telemetry, client):
    @measure()
    def echo():
        received = yield "ready"
        try:
            yield received
        except KeyError:
            yield "caught"

    generator = echo()
    assert next(generator) == "ready"
    assert generator.send("hello") == "hello"
    assert generator.throw(KeyError()) == "caught"


async def test_a_decorated_async_generator_function_counts_its_steps_not_its_consumer(telemetry, aclient, emulator):
    @measure()
    async def answers(n):
        for _ in range(n):
            yield (await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)).id

    own = []
    async for answer in answers(2):
        own.append(answer)
        await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
    by_id = {e.response_id: e for e in emulator.exchanges}
    assert answers.usage.requests == 2
    assert answers.usage.joules == pytest.approx(sum(by_id[i].energy["energy_joules"] for i in own), rel=1e-12)
    import inspect

    assert inspect.isasyncgenfunction(answers)


def test_exiting_a_block_never_entered_is_a_clear_error():
    with pytest.raises(RuntimeError, match="not entered"):
        measure().__exit__(None, None, None)
