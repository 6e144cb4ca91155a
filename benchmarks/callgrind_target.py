"""What benchmarks/run.py counts instructions of: N runs of one workload over canned bytes.

    valgrind --tool=callgrind python callgrind_target.py {bare|noop|sdk|floor} {stream|whole} N [PATH]

PATH is chat (the default), responses, messages-off or messages-on (anthropic's own tracing on the
row's tracer provider). A whole run is 50 calls; a stream, 1000 chunks. Instructions per run: the
difference of two counts (N and a smaller N) over the difference of N.
"""

import sys

from overhead import instrumentor, make_client, workload

NAMES = {"noop": "ours-noop", "sdk": "ours-sdk", "floor": "contract-floor"}

which, mode, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
path = sys.argv[4] if len(sys.argv) > 4 else "chat"
api, sdk_tracing = path.removesuffix("-off").removesuffix("-on"), path == "messages-on"
made = options = None
if which != "bare":
    made, options = instrumentor(NAMES[which], [], api, sdk_tracing)
# anthropic's own tracing: on the row's provider, or (bare) on the global one.
tracing = sdk_tracing and ({"tracer_provider": options["tracer_provider"]} if options else {})
run = workload(make_client(api, 1000, tracing=tracing), mode, 50, api)
if made is not None:
    made.instrument(**options)
for _ in range(runs):
    run()
