"""The Grafana dashboard, proven against a real Prometheus without Docker: an instrumented app
exposes its metrics (opentelemetry-exporter-prometheus names them as the collector does), a
Prometheus on loopback scrapes it, and every PromQL expression of the dashboard returns data;
the total joules equal what the emulator reported. The compose stack is checked structurally."""

import json
import math
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import anthropic
import pytest
import yaml
from conftest import MESSAGES, free_port
from opentelemetry import baggage, context
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import start_http_server

from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

STACK = Path(__file__).parent.parent / "examples" / "observability"
DASHBOARD = STACK / "grafana" / "dashboards" / "neuralwatt-energy.json"
# What Grafana would put in for the dashboard's variables.
VARIABLES = {"$__rate_interval": "1m", "$model": ".*", "$api": ".+", "$grid_intensity": "400",
             "$tenant_key": "tenant_id"}
MODELS = ["openai/gpt-oss-20b", "moonshotai/Kimi-K2.6"]


def prometheus_targets():
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            if target["datasource"]["type"] == "prometheus":
                yield panel["title"], target["expr"]


def substitute(expr):
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def needed(tool: str) -> str:
    """The path of Prometheus's `tool`; a skip saying why without it, or a failure under CI=true."""
    binary = shutil.which(tool)
    if binary:
        return binary
    why = f"{tool} is not installed (bash scripts/install-prometheus.sh gets it; scripts/test.sh puts it on PATH)"
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


class Prometheus:
    def __init__(self, tmp_path, scrape_port):
        binary = needed("prometheus")
        self.url = f"http://127.0.0.1:{free_port()}"
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "app", "static_configs": [{"targets": [f"127.0.0.1:{scrape_port}"]}]}],
            "rule_files": [str(STACK / "alerts.yml")],  # the quota alerts, evaluated on live data
        }))
        self.process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address={self.url[len('http://'):]}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._wait(lambda: urllib.request.urlopen(f"{self.url}/-/ready", timeout=1).status == 200)

    def _wait(self, ready, seconds=30):
        deadline = time.monotonic() + seconds
        while True:
            try:
                if ready():
                    return
            except OSError:
                pass
            assert self.process.poll() is None, "prometheus exited"
            assert time.monotonic() < deadline, "timed out waiting for prometheus"
            time.sleep(0.2)

    def query(self, expr, at=None):
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = json.load(answer)
        assert body["status"] == "success", body
        return [(sample["metric"], float(sample["value"][1])) for sample in body["data"]["result"]]

    def wait_for_count(self, count):
        def scraped():
            result = self.query("sum(neuralwatt_energy_joules_count)")
            return result and result[0][1] == count
        self._wait(scraped)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture
def instrumented_app(emulator):
    """This process plays the app: instrumented, its metrics served for Prometheus to scrape."""
    instrumentor = NeuralwattInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    reader = PrometheusMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    server, thread = start_http_server(0, addr="127.0.0.1")
    instrumentor.instrument(meter_provider=provider, hosts=[f"127.0.0.1:{emulator.port}"], baggage_keys=["tenant.id"])
    # A second GenAI instrumentation beside ours, as users run them: its gen_ai_client_* series
    # (provider "openai") must not change our panels.
    official = OpenAIInstrumentor()
    official.instrument(meter_provider=provider)
    yield server.server_port
    official.uninstrument()
    instrumentor.uninstrument()
    server.shutdown()
    provider.shutdown()


def workload(client, emulator):
    """Per model: three chat calls, one Responses call, one Anthropic Messages stream (5 x 2 = 10);
    the first model's calls on behalf of the tenant "acme" (W3C baggage)."""
    emulator.responses_energy = True
    token = context.attach(baggage.set_baggage("tenant.id", "acme"))
    try:
        calls(client, emulator, MODELS[:1])
    finally:
        context.detach(token)
    calls(client, emulator, MODELS[1:])


def calls(client, emulator, models):
    messages = anthropic.Anthropic(base_url=emulator.base_url[:-3], api_key="k", open_telemetry=False).messages
    for model in models:
        client.chat.completions.create(model=model, messages=MESSAGES)
        list(client.chat.completions.create(model=model, messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True}))
        client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=60)
        client.responses.create(model=model, input="hello")
        list(messages.create(model=model, max_tokens=64, messages=MESSAGES, stream=True))


def test_every_dashboard_query_returns_data_from_a_real_prometheus(tmp_path, emulator, client, instrumented_app):
    prometheus = Prometheus(tmp_path, instrumented_app)
    try:
        workload(client, emulator)  # two bursts, with scrapes between, so rates and increases see change
        prometheus.wait_for_count(10)
        workload(client, emulator)
        prometheus.wait_for_count(20)
        time.sleep(2.5)

        # The official instrumentation records the openai calls' GenAI points (provider "openai"), ours
        # only the anthropic ones: each call is counted once, and every one carries `neuralwatt_api`.
        assert prometheus.query('count(gen_ai_client_token_usage_sum{gen_ai_provider_name="openai", neuralwatt_api!=""})')
        (_, calls), = prometheus.query('sum(gen_ai_client_operation_duration_seconds_count{neuralwatt_api=~".+"})')
        assert calls == len(emulator.exchanges)
        for title, expr in prometheus_targets():
            result = prometheus.query(substitute(expr))
            assert result, f"{title}: no data for {expr}"
            values = [value for _, value in result]
            assert all(math.isfinite(v) for v in values), (title, result)
            assert any(v > 0 for v in values), (title, result)

        (_, total), = prometheus.query(substitute('sum(neuralwatt_energy_joules_sum{gen_ai_request_model=~"$model"})'))
        assert total == pytest.approx(sum(e.energy["energy_joules"] for e in emulator.exchanges), rel=1e-9)
        (_, carbon), = prometheus.query("sum(neuralwatt_carbon_grams_sum)")
        assert carbon == pytest.approx(sum(e.energy["carbon_g_co2eq"] for e in emulator.exchanges), rel=1e-9)
        by_model = {m["gen_ai_request_model"]: v for m, v in prometheus.query(
            "sum by (gen_ai_request_model) (neuralwatt_energy_joules_count)")}
        assert by_model == {model: 10.0 for model in MODELS}
        # The panels split and filter by API shape: each API's joules are exactly what it was sent.
        by_api = {m["neuralwatt_api"]: v for m, v in prometheus.query(
            substitute('sum by (neuralwatt_api) (neuralwatt_energy_joules_sum{neuralwatt_api=~"$api"})'))}
        sent = {}
        for exchange in emulator.exchanges:
            api = {"/v1/responses": "responses", "/v1/messages": "messages"}.get(exchange.path, "chat_completions")
            sent[api] = sent.get(api, 0.0) + exchange.energy["energy_joules"]
        assert by_api == pytest.approx(sent, rel=1e-9) and len(by_api) == 3
        with urllib.request.urlopen(f"{prometheus.url}/api/v1/label/gen_ai_request_model/values") as answer:
            assert sorted(json.load(answer)["data"]) == sorted(MODELS)  # the $model variable's values

        # The quota panels and alerts read the gauges: the last values the responses reported.
        last = emulator.exchanges[-1].response_headers
        (_, energy_left), = prometheus.query("min(neuralwatt_quota_energy_remaining_kWh)")
        (_, allowance_left), = prometheus.query("min(neuralwatt_quota_allowance_remaining_USD)")
        assert energy_left == pytest.approx(float(last["x-energy-remaining"]), rel=1e-9)
        assert allowance_left == emulator.exchanges[-1].cost["allowance_remaining_usd"]
        with urllib.request.urlopen(f"{prometheus.url}/api/v1/rules") as answer:
            rules = [rule for group in json.load(answer)["data"]["groups"] for rule in group["rules"]]
        assert {(r["name"], r["health"], r["state"]) for r in rules} == {
            ("NeuralwattAllowanceLow", "ok", "inactive"), ("NeuralwattEnergyQuotaLow", "ok", "inactive"),
            ("NeuralwattTenantDailyEnergyBudget", "ok", "inactive")}
        # The tenant panel's split: exactly the joules of the calls made for the tenant.
        (labels, acme), = prometheus.query('sum by (tenant_id) (neuralwatt_energy_joules_sum{tenant_id!=""})')
        assert labels == {"tenant_id": "acme"}
        assert acme == pytest.approx(sum(e.energy["energy_joules"] for e in emulator.exchanges
                                         if e.request["model"] == MODELS[0]), rel=1e-9)
    finally:
        prometheus.stop()


def test_alert_rules_pass_promtool_and_their_unit_tests():
    promtool = needed("promtool")
    for command in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        done = subprocess.run([promtool, *command], cwd=STACK, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout


def test_every_gen_ai_client_query_is_scoped_to_neuralwatt():
    """By `neuralwatt_api`, which our points and (through util-genai's metric attributes) the official
    instrumentations' points of Neuralwatt calls carry, whatever provider name they say."""
    queries = [expr for _, expr in prometheus_targets() if "gen_ai_client_" in expr]
    selectors = re.findall(r"gen_ai_client_[a-z_]+\{[^}]*\}", " ".join(queries))
    assert queries and len(selectors) >= len(queries)
    assert all('neuralwatt_api=~"$api"' in selector for selector in selectors), selectors
    (api,) = [v for v in json.loads(DASHBOARD.read_text())["templating"]["list"] if v["name"] == "api"]
    assert api["allValue"] == ".+"  # "All" still needs the label


def test_every_panel_has_a_unit_and_links_to_jaeger():
    dashboard = json.loads(DASHBOARD.read_text())
    titles = [panel["title"] for panel in dashboard["panels"]]
    for panel in dashboard["panels"]:
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
    for needed in ("Energy over time", "Energy over time (kWh)", "Average power", "Energy per request (p50 / p95)",
                   "Joules per output token", "Carbon: reported and estimated", "Cost", "Request rate",
                   "Latency (p50 / p95)", "Energy by API", "Energy quota remaining", "Allowance remaining"):
        assert needed in titles
    links = [link["url"] for panel in dashboard["panels"] for link in panel.get("links", [])]
    assert links and all(url.startswith("http://localhost:16686/search?service=${service}") for url in links)
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"model", "api", "grid_intensity", "service", "tenant_key"}


def test_compose_stack_is_wired_as_the_readme_says():
    compose = yaml.safe_load((STACK / "docker-compose.yml").read_text())
    collector = yaml.safe_load((STACK / "otel-collector.yaml").read_text())
    prometheus = yaml.safe_load((STACK / "prometheus.yml").read_text())
    datasources = yaml.safe_load((STACK / "grafana/provisioning/datasources/datasources.yaml").read_text())
    dashboards = yaml.safe_load((STACK / "grafana/provisioning/dashboards/dashboards.yaml").read_text())
    readme = (STACK.parent.parent / "README.md").read_text()

    services = compose["services"]
    assert set(services) == {"otel-collector", "jaeger", "prometheus", "grafana"}
    published = {int(port.split(":")[0]) for service in services.values() for port in service.get("ports", [])}
    assert published == {4317, 4318, 8889, 16686, 9090, 3000}
    for port in (4318, 16686, 9090, 3000):
        assert f"localhost:{port}" in readme

    # OTLP in on both protocols; traces to Jaeger; metrics to the endpoint Prometheus scrapes
    protocols = collector["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317") and protocols["http"]["endpoint"].endswith(":4318")
    pipelines = collector["service"]["pipelines"]
    assert pipelines["traces"]["receivers"] == ["otlp"] and "otlp/jaeger" in pipelines["traces"]["exporters"]
    assert pipelines["metrics"]["receivers"] == ["otlp"] and "prometheus" in pipelines["metrics"]["exporters"]
    for pipeline in pipelines.values():
        assert set(pipeline["exporters"]) <= set(collector["exporters"])
        assert set(pipeline.get("processors", [])) <= set(collector["processors"])
    assert collector["exporters"]["otlp/jaeger"]["endpoint"].split(":")[0] in services
    metrics_port = collector["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == [f"otel-collector:{metrics_port}"]
    # Exemplars, from an energy point to its trace: the collector exposes them (OpenMetrics),
    # Prometheus stores them, the energy panels show them and Grafana opens their trace in Jaeger.
    assert collector["exporters"]["prometheus"]["enable_open_metrics"] is True
    assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]
    (destination,) = datasources["datasources"][0]["jsonData"]["exemplarTraceIdDestinations"]
    assert destination == {"name": "trace_id", "datasourceUid": "jaeger"}
    assert any(ds["uid"] == "jaeger" for ds in datasources["datasources"])
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert all(t.get("exemplar") for p in panels if p["title"] == "Energy over time" for t in p["targets"])
    # The alert rules are mounted where prometheus.yml loads them from.
    mounted = {volume.split(":")[1] for volume in services["prometheus"]["volumes"]}
    assert set(prometheus["rule_files"]) <= mounted

    # Grafana: both datasources point at compose services; the dashboard file is where the provider looks
    urls = {d["uid"]: d["url"] for d in datasources["datasources"]}
    assert urls == {"prometheus": "http://prometheus:9090", "jaeger": "http://jaeger:16686"}
    mounts = dict(volume.split(":")[:2] for volume in services["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == dashboards["providers"][0]["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    used = {t["datasource"]["uid"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]}
    assert used <= set(urls)
