"""The emulator as benchmarks/run.py starts it for loopback HTTP: the same command line as
`python -m opentelemetry_instrumentation_neuralwatt.emulator`, with Nagle's algorithm off on its
connections (TCP_NODELAY), as production HTTP servers have it.

With Nagle's algorithm on, the emulator sends a response's headers and its body in two segments and
the second waits for the client's delayed ACK: 45 ms of wall time per whole call, which the client
spends asleep in recv() and comes back from with cold caches. Its CPU time per whole call nearly
doubled (2.0 ms against 1.1 ms with TCP_NODELAY): a soft denominator that no real server gives.
"""

import sys

from opentelemetry_instrumentation_neuralwatt.emulator import main
from opentelemetry_instrumentation_neuralwatt.emulator.server import Handler

Handler.disable_nagle_algorithm = True  # socketserver.StreamRequestHandler sets TCP_NODELAY then
main(sys.argv[1:])
