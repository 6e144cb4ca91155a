"""What benchmarks/run.py counts instructions of: N runs of one workload over canned bytes.

    valgrind --tool=callgrind python callgrind_target.py {bare|noop|sdk|floor} {stream|whole} N
"""

import sys

from overhead import instrumentor, mock_client, workload

NAMES = {"noop": "ours-noop", "sdk": "ours-sdk", "floor": "contract-floor"}

which, mode, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
run = workload(mock_client(1000), mode, 50)
if which != "bare":
    made, options = instrumentor(NAMES[which], [])
    made.instrument(**options)
for _ in range(runs):
    run()
