"""A plain openai app with no telemetry code at all: run under `opentelemetry-instrument`."""

import asyncio
import os

import openai

MODEL = "openai/gpt-oss-20b"
MESSAGES = [{"role": "user", "content": "Count the joules"}]


def main():
    base_url = os.environ["NEURALWATT_API_BASE"]
    with openai.OpenAI(base_url=base_url, api_key="zero-code") as client:
        print(client.chat.completions.create(model=MODEL, messages=MESSAGES).id)
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                stream_options={"include_usage": True})
        print([chunk.id for chunk in stream][0])

    async def async_stream():
        async with openai.AsyncOpenAI(base_url=base_url, api_key="zero-code") as client:
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            print([chunk.id async for chunk in stream][0])

    asyncio.run(async_stream())


if __name__ == "__main__":
    main()
