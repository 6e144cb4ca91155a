"""What benchmarks/run.py counts instructions of: N runs of one workload over canned bytes.

    valgrind --tool=callgrind python callgrind_target.py {bare|noop|sdk} {stream|json} N
"""

import sys

from overhead import mock_client, sdk_providers, workload

which, mode, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
run = workload(mock_client(1000), mode, 50)
if which != "bare":
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    from opentelemetry_instrumentation_neuralwatt import NeuralwattInstrumentor

    providers = ({"tracer_provider": NoOpTracerProvider(), "meter_provider": NoOpMeterProvider()}
                 if which == "noop" else sdk_providers())
    NeuralwattInstrumentor().instrument(**providers)
for _ in range(runs):
    run()
