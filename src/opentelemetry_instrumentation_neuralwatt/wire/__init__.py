"""What the server sends, made a validated measurement (the bottom stage).

`payload` reads untrusted JSON and values within bounds; `fields` names the energy and cost fields
and their bounds; `energy` turns payloads into a `Measurement` (`energy_attributes`: its span
attributes); `sse` keeps a stream's comments on its decoder, `sse_bytes` finds them in the bytes as
they arrive, `bodies` in a raw body the user reads; `headers` and `livewire` read the live service's
headers, MCR session data and status frames.

Imports nothing of the package's other stages (`call`, `telemetry`, `sdk`): only the standard
library and itself.
"""
