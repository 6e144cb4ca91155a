"""The emulator speaks Neuralwatt's wire format, so demos and tests need no network."""

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openai
import pytest
from conftest import MESSAGES, MODEL, faults, free_port

from opentelemetry_instrumentation_neuralwatt.emulator import FAULTS, MODELS, NeuralwattEmulator


def raw_stream(emulator, headers=None, **body):
    request = urllib.request.Request(
        emulator.base_url + "/chat/completions",
        data=json.dumps({"model": MODEL, "messages": MESSAGES, "stream": True, **body}).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request) as response:
        return response.read()


def test_stream_ends_with_energy_and_cost_comments_just_before_done(emulator):
    lines = raw_stream(emulator, stream_options={"include_usage": True}).decode().split("\n")
    exchange = emulator.exchanges[-1]

    assert lines[-5:] == [
        ": energy " + json.dumps(exchange.energy),
        ": cost " + json.dumps(exchange.cost),
        "data: [DONE]",
        "",
        "",
    ]
    usage_chunk = json.loads(lines[-7][len("data: "):])
    assert usage_chunk["choices"] == [] and usage_chunk["usage"] == exchange.usage


def test_usage_chunk_only_when_asked(emulator):
    body = raw_stream(emulator).decode()
    assert '"usage"' not in body


def test_crlf_and_keepalive_variants(emulator):
    body = raw_stream(emulator, headers=faults("crlf", "keepalive")).decode()
    assert "\r\n: ping\r\n" in body
    assert ': mcr-session {"session_id": "s-1", "turn": 1}\r\n: energy {' in body


def test_models_are_listed(client):
    assert [model.id for model in client.models.list()] == [name for name, _, _ in MODELS]


def test_energy_grows_with_tokens_and_differs_per_request():
    with NeuralwattEmulator(seed=7, completion_tokens=200) as emulator:  # answers of 200 tokens, unless cut
        with openai.OpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as client:
            for tokens in (5, 5, 200):
                client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=tokens)
    small, again, large = (e.energy for e in emulator.exchanges)
    assert [e.usage["completion_tokens"] for e in emulator.exchanges] == [5, 5, 200]

    assert small["energy_joules"] != again["energy_joules"]
    assert large["energy_joules"] > 3 * max(small["energy_joules"], again["energy_joules"])
    assert large["energy_kwh"] == large["energy_joules"] / 3.6e6
    assert large["duration_seconds"] == round(large["energy_joules"] / large["avg_power_watts"], 6)


def test_same_seed_same_answers():
    answers = []
    for _ in range(2):
        with NeuralwattEmulator(seed=5) as emulator:
            with openai.OpenAI(base_url=emulator.base_url, api_key="k") as client:
                answers.append(client.chat.completions.create(model=MODEL, messages=MESSAGES).model_dump())
    assert answers[0] == answers[1]


def test_first_attempt_failure_is_retried_by_the_sdk(emulator):
    with openai.OpenAI(base_url=emulator.base_url, api_key="k", max_retries=2) as client:
        response = client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                                  extra_headers=faults("http-500-once"))
    assert [e.status for e in emulator.exchanges] == [500, 200]
    assert response.id == emulator.exchanges[-1].response_id


def test_unknown_faults_are_refused():
    with pytest.raises(ValueError, match="unknown faults"):
        NeuralwattEmulator(faults=["melt-down"])
    assert "disconnect" in FAULTS


def test_server_wide_faults_apply_to_every_request():
    with NeuralwattEmulator(faults=["no-energy"]) as emulator:
        with openai.OpenAI(base_url=emulator.base_url, api_key="k") as client:
            response = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert "energy" not in response.model_extra


def test_runs_from_the_command_line():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "opentelemetry_instrumentation_neuralwatt.emulator", "--port", str(port)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/v1" in banner
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models") as response:
                    assert json.load(response)["data"][0]["id"] == MODELS[0][0]
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def command_line_emulator(*flags):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "opentelemetry_instrumentation_neuralwatt.emulator", "--port", str(port), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.readline()  # the banner: it listens
    return process, f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize("quiet", [False, True], ids=["logged", "quiet"])
def test_the_command_line_logs_each_request_unless_quiet(quiet):
    process, base_url = command_line_emulator("--seed", "3", *(["--quiet"] if quiet else []))
    try:
        with openai.OpenAI(base_url=base_url, api_key="k", max_retries=0) as client:
            list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    finally:
        process.terminate()
        _, log = process.communicate(timeout=10)
    with NeuralwattEmulator(seed=3) as same:  # the same seed, the same joules
        with openai.OpenAI(base_url=same.base_url, api_key="k", max_retries=0) as client:
            list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
        joules = same.exchanges[0].energy["energy_joules"]
    expected = f"POST /v1/chat/completions status=200 model={MODEL} stream energy_joules={joules}"
    assert log.splitlines() == ([] if quiet else [expected])


def test_the_command_line_names_itself_and_its_options():
    done = subprocess.run([sys.executable, "-m", "opentelemetry_instrumentation_neuralwatt.emulator", "--help"],
                          capture_output=True, text=True, timeout=30)
    assert done.stdout.startswith("usage: python -m opentelemetry_instrumentation_neuralwatt.emulator")
    for flag in ("--responses-energy", "--quiet", "--fault FAULT", "--seed SEED"):
        assert flag in done.stdout
    options = " ".join(done.stdout[:done.stdout.index("faults (")].split())  # argparse wraps lines
    assert "--host HOST the address to listen on (default: 127.0.0.1, this machine only)" in options
    assert ("--port PORT the port to listen on (default: 8123, which the README's commands use; "
            "0 picks a free one)") in options
    assert "--tokens TOKENS completion tokens of an answer the model finishes (default: 12)" in options
    for fault in FAULTS:
        assert f"\n  {fault} " in done.stdout


def test_the_readme_lists_every_fault():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    listed = set(re.findall(r"^\| `([a-z0-9-]+)` \| ", readme[readme.index("## The emulator"):], re.M))
    assert listed == set(FAULTS)


def test_responses_energy_from_the_command_line():
    process, base_url = command_line_emulator("--responses-energy", "--quiet")
    request = urllib.request.Request(f"{base_url}/responses", data=json.dumps({"model": MODEL, "input": "hi"}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # any openai release: plain HTTP
            response = json.load(answer)
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert response["object"] == "response" and response["energy"]["energy_joules"] > 0


def test_the_command_line_says_in_one_line_when_its_port_is_taken(emulator):
    done = subprocess.run([sys.executable, "-m", "opentelemetry_instrumentation_neuralwatt.emulator",
                           "--port", str(emulator.port)], capture_output=True, text=True, timeout=30)

    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"Port {emulator.port} on 127.0.0.1 is already in use (an emulator already running?): stop what listens "
        "there, or pick another port with --port (--port 0 picks a free one)."]


ANSWER = "Energy is measured on the GPU for every request and attributed to."  # the 12 tokens of an answer


# max_completion_tokens goes as extra_body: openai < 1.45 has no argument for it.
@pytest.mark.parametrize("limit", [{}, {"max_tokens": 13}, {"extra_body": {"max_completion_tokens": 100}}], ids=str)
def test_an_answer_the_model_finished_says_stop(client, limit):
    whole = client.chat.completions.create(model=MODEL, messages=MESSAGES, **limit).choices[0]
    assert (whole.message.content, whole.finish_reason) == (ANSWER, "stop")
    streamed = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, **limit))
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == ANSWER
    assert streamed[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("limit", [{"max_tokens": 4}, {"extra_body": {"max_completion_tokens": 4}}, {"max_tokens": 12}],
                         ids=str)
def test_an_answer_max_tokens_cut_says_length_as_the_live_service_does(client, emulator, limit):
    # its end-of-answer token would be one more: 12 cuts a 12-token answer
    count = limit.get("max_tokens") or limit["extra_body"]["max_completion_tokens"]
    cut = client.chat.completions.create(model=MODEL, messages=MESSAGES, **limit).choices[0]
    assert (cut.message.content, cut.finish_reason) == (" ".join(ANSWER[:-1].split()[:count]), "length")
    streamed = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, **limit))
    assert streamed[-1].choices[0].finish_reason == "length"
    assert emulator.exchanges[-1].usage["completion_tokens"] == count


def test_legacy_completions_say_stop_or_length(client):
    finished = client.completions.create(model=MODEL, prompt="hi").choices[0]
    cut = client.completions.create(model=MODEL, prompt="hi", max_tokens=3).choices[0]
    assert (finished.text, finished.finish_reason) == (ANSWER, "stop")
    assert (cut.text, cut.finish_reason) == ("Energy is measured", "length")


@pytest.mark.skipif(not hasattr(openai.OpenAI, "responses"), reason="this openai release predates the Responses API")
def test_a_responses_answer_cut_by_max_output_tokens_is_incomplete(client):
    finished = client.responses.create(model=MODEL, input="hi", max_output_tokens=100)
    cut = client.responses.create(model=MODEL, input="hi", max_output_tokens=3)
    assert (finished.output_text, finished.status, finished.incomplete_details) == (ANSWER, "completed", None)
    assert (cut.output_text, cut.status, cut.incomplete_details.reason) == ("Energy is measured", "incomplete",
                                                                         "max_output_tokens")
    with client.responses.stream(model=MODEL, input="hi", max_output_tokens=3) as stream:
        events = [event.type for event in stream]
    assert events[-1] == "response.incomplete"


def test_a_messages_answer_says_end_turn_or_max_tokens(emulator):
    import anthropic

    with anthropic.Anthropic(base_url=emulator.base_url[:-3], api_key="k", max_retries=0) as client:
        finished = client.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES)
        cut = client.messages.create(model=MODEL, max_tokens=3, messages=MESSAGES)
        with client.messages.stream(model=MODEL, max_tokens=3, messages=MESSAGES) as stream:
            streamed = stream.get_final_message()
    assert (finished.content[0].text, finished.stop_reason) == (ANSWER, "end_turn")
    assert (cut.content[0].text, cut.stop_reason) == ("Energy is measured", "max_tokens")
    assert (streamed.content[0].text, streamed.stop_reason) == ("Energy is measured", "max_tokens")


def test_the_answer_is_a_finished_sentence_unless_cut_by_max_tokens(client):
    whole = client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0]
    cut = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=4).choices[0]
    assert whole.message.content.endswith(".") and whole.finish_reason == "stop"
    assert cut.message.content == "Energy is measured on"


def test_a_prompt_asking_for_named_sections_gets_them(client, emulator):
    """dspy's ChatAdapter asks for its output fields as `[[ ## field ## ]]` sections; a model that
    follows the prompt answers in them, with as many words as any other answer."""
    asked = ("[[ ## question ## ]]\nWhy?\n\nRespond with the corresponding output fields, starting with the field "
             "`[[ ## reasoning ## ]]`, then `[[ ## answer ## ]]`, and then ending with the marker for "
             "`[[ ## completed ## ]]`.")
    answer = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": asked}])
    plain = client.chat.completions.create(model=MODEL, messages=MESSAGES)

    assert answer.choices[0].message.content == (
        "[[ ## reasoning ## ]]\nEnergy is measured on the GPU \n\n"
        "[[ ## answer ## ]]\nfor every request and attributed to.\n\n[[ ## completed ## ]]")
    assert answer.usage.completion_tokens == plain.usage.completion_tokens

