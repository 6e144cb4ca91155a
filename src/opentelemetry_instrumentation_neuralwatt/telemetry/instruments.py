"""The metric instruments of the telemetry contract: histograms with advisory bucket boundaries,
and the quota gauges (the last value seen per server).

One set per meter provider, made once and kept (`instruments_for`): a provider hands back the
first instrument of a name, so a second set would record into the first set's instruments but
keep its quota values where the first set's gauges never look (a stale quota after
`uninstrument()` / `instrument()`), and the global proxy provider keeps every meter made on it.
"""

from __future__ import annotations

import threading
import weakref

from opentelemetry import metrics
from opentelemetry.metrics import NoOpHistogram, Observation, get_meter
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as GenAIMetrics
from opentelemetry.semconv.attributes import server_attributes

# Histogram boundaries, chosen from what Neuralwatt reports: a chat request is ~1-100 J,
# hundreds of watts to a few kW, and well under a gram of CO2e or a cent.
ENERGY_BUCKETS_J = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000]
POWER_BUCKETS_W = [10, 25, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600]
CARBON_BUCKETS_G = [1e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]
COST_BUCKETS_USD = [1e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5]
# The GenAI semantic conventions' advisory boundaries.
DURATION_BUCKETS_S = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
TIME_PER_CHUNK_BUCKETS_S = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5]


class Instruments:
    """One meter's instruments; the quota gauges report `energy_remaining` / `allowance_remaining`."""

    def __init__(self, meter_provider, version: str, schema_url: str):
        meter = get_meter("opentelemetry_instrumentation_neuralwatt.telemetry", version, meter_provider,
                          schema_url=schema_url)

        def histogram(name, unit, description, buckets):
            return meter.create_histogram(name, unit=unit, description=description,
                                          explicit_bucket_boundaries_advisory=buckets)

        self.energy = histogram("neuralwatt.energy", "J", "Energy used by a Neuralwatt request", ENERGY_BUCKETS_J)
        self.power = histogram("neuralwatt.power", "W", "Average power drawn by a Neuralwatt request", POWER_BUCKETS_W)
        self.carbon = histogram("neuralwatt.carbon", "g", "Carbon emitted by a Neuralwatt request, g CO2e",
                                CARBON_BUCKETS_G)
        self.cost = histogram("neuralwatt.cost", "USD", "Cost of a Neuralwatt request", COST_BUCKETS_USD)
        self.duration = histogram(GenAIMetrics.GEN_AI_CLIENT_OPERATION_DURATION, "s", "GenAI operation duration",
                                  DURATION_BUCKETS_S)
        self.token_usage = histogram(GenAIMetrics.GEN_AI_CLIENT_TOKEN_USAGE, "{token}",
                                     "Number of input and output tokens used", TOKEN_BUCKETS)
        self.time_to_first_chunk = histogram(
            GenAIMetrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, "s",
            "Time from the request to the first chunk with content, for streams", DURATION_BUCKETS_S)
        self.time_per_output_chunk = histogram(
            GenAIMetrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK, "s",
            "Time per output chunk after the first, for streams", TIME_PER_CHUNK_BUCKETS_S)
        # A no-op meter provider's instruments record nothing: the points are not even made then.
        self.records = not isinstance(self.energy, NoOpHistogram)
        self.energy_remaining: dict = {}
        self.allowance_remaining: dict = {}
        for name, unit, description, values in (
            ("neuralwatt.quota.energy_remaining", "kWh", "Subscription energy left (x-energy-remaining)",
             self.energy_remaining),
            ("neuralwatt.quota.allowance_remaining", "USD", "Allowance left (x-allowance-remaining-usd)",
             self.allowance_remaining),
        ):
            meter.create_observable_gauge(name, callbacks=[_observe_last(values)], unit=unit,
                                          description=description)


def _observe_last(values: dict):
    def observe(options):
        return [Observation(value, {server_attributes.SERVER_ADDRESS: host}) for host, value in list(values.items())]

    return observe


# meter provider -> its instruments; weak, so a provider that is dropped takes them with it
_made: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def instruments_for(meter_provider, version: str, schema_url: str) -> Instruments:
    """The instruments on this meter provider (the global one when None), made on first use."""
    provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    with _lock:
        try:
            made = _made.get(provider)
        except TypeError:  # a provider that takes no weak references: made anew each time
            return Instruments(provider, version, schema_url)
        if made is None:
            made = _made[provider] = Instruments(provider, version, schema_url)
        return made
