"""`llm neuralwatt quota` through the real `llm` CLI against the emulator's `GET /v1/quota` (the
live service's shape): the numbers in human units, and a clear message for no key, a refused key,
the rate limit and an unreachable server."""

import json

import pytest
from click.testing import CliRunner
from conftest import free_port

from opentelemetry_instrumentation_neuralwatt.emulator import NeuralwattEmulator
from opentelemetry_instrumentation_neuralwatt.llm_plugin import units


@pytest.fixture
def user_dir(tmp_path, monkeypatch, emulator):
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path))
    monkeypatch.setenv("NEURALWATT_API_BASE", emulator.base_url)
    monkeypatch.setenv("NEURALWATT_API_KEY", "nw-test-key")
    return tmp_path


def quota(*args):
    from llm.cli import cli

    return CliRunner().invoke(cli, ["neuralwatt", "quota", *args], catch_exceptions=False)


def test_the_quota_in_human_units(user_dir, emulator):
    import openai

    with openai.OpenAI(base_url=emulator.base_url, api_key="nw-test-key", max_retries=0) as client:
        client.chat.completions.create(model="openai/gpt-oss-20b", messages=[{"role": "user", "content": "hi"}])
    sent = emulator._sessions.quota()  # what the server answers now
    result = quota()

    assert result.exit_code == 0, result.output
    joules_used = emulator.exchanges[0].energy["energy_joules"]
    spent = emulator.exchanges[0].cost["request_cost_usd"]
    assert sent["subscription"]["kwh_used"] == pytest.approx(joules_used / 3.6e6, rel=1e-12)
    assert result.output.splitlines() == [
        "Plan:         pro (period ends 2026-12-31T23:59:59Z)",
        f"Energy:       {units.energy(joules_used)} used, of 5.000 kWh included, 5.000 kWh left",
        "Credits:      $74.60 left of $100.0 ($25.40 used); accounting: energy",
        f"This month:   {units.dollars(spent)}",
        f"Key allowance: {units.dollars(spent)} spent of $50.00 (monthly)",
    ]
    (request,) = [e for e in emulator.exchanges if e.path == "/v1/quota"]
    assert request.status == 200


def test_json_is_the_answer_as_it_came(user_dir, emulator):
    result = quota("--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body == emulator._sessions.quota()
    assert set(body) == {"balance", "usage", "subscription", "key"}


def test_an_account_without_a_subscription(user_dir, monkeypatch):
    with NeuralwattEmulator(faults=["no-subscription"]) as emulator:
        monkeypatch.setenv("NEURALWATT_API_BASE", emulator.base_url)
        result = quota()
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "Plan:         none (pay as you go)"


def test_no_key(user_dir, monkeypatch):
    monkeypatch.delenv("NEURALWATT_API_KEY")
    result = quota()
    assert result.exit_code == 1
    assert "No Neuralwatt API key: set NEURALWATT_API_KEY or run `llm keys set neuralwatt`." in result.output


def test_a_refused_key(user_dir, monkeypatch):
    with NeuralwattEmulator(faults=["http-401"]) as emulator:
        monkeypatch.setenv("NEURALWATT_API_BASE", emulator.base_url)
        result = quota()
    assert result.exit_code == 1
    assert "refused the API key (HTTP 401)" in result.output


def test_a_429_is_asked_again_once_a_moment_later(user_dir, emulator):
    first = quota()
    again = quota()  # within the second: the service answers 429 with Retry-After: 0, then 200 a moment later

    assert first.exit_code == again.exit_code == 0, again.output
    assert again.output == first.output
    assert [e.status for e in emulator.exchanges] == [200, 429, 200]


def test_a_429_that_persists_says_so_in_one_line_never_in_0_s(user_dir, monkeypatch):
    with NeuralwattEmulator(faults=["http-429"]) as emulator:  # 429 with Retry-After: 0 every time
        monkeypatch.setenv("NEURALWATT_API_BASE", emulator.base_url)
        result = quota()

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: {emulator.base_url}/quota is rate-limited (HTTP 429; it answers about once a second): "
        "try again in a few seconds."]
    assert [e.status for e in emulator.exchanges] == [429, 429]


def test_a_base_url_without_v1_says_did_you_mean(user_dir, emulator, monkeypatch):
    base_url = emulator.base_url.removesuffix("/v1")
    monkeypatch.setenv("NEURALWATT_API_BASE", base_url)
    result = quota()

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: {base_url}/quota answered HTTP 404. Did you mean NEURALWATT_API_BASE={base_url}/v1?"]


def test_an_unreachable_server(user_dir, monkeypatch):
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setenv("NEURALWATT_API_BASE", base_url)
    result = quota()
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: Could not reach {base_url}/quota ([Errno 111] Connection refused). Is NEURALWATT_API_BASE right?"]
