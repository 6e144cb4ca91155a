"""100 greenlets each make a call, under gevent's monkey patching, bare or instrumented; every fork
of this process (and of its children) writes a line to a log.

    python gevent_app.py BASE_URL FORK_LOG bare|instrumented
"""

import sys

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

import gevent  # noqa: E402
import openai  # noqa: E402

base_url, fork_log, mode = sys.argv[1:4]
os.register_at_fork(after_in_child=lambda: open(fork_log, "a").write(f"{os.getpid()}\n"))
if mode == "instrumented":
    from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

    NeuralwattInstrumentor().instrument(hosts=[base_url])
client = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)


def call():
    client.chat.completions.create(model="openai/gpt-oss-20b", messages=[{"role": "user", "content": "Hi"}])


jobs = [gevent.spawn(call) for _ in range(100)]
gevent.joinall(jobs, timeout=30)
print(sum(1 for job in jobs if job.successful()))
