"""Which servers are Neuralwatt: only their calls get a span of ours."""

from __future__ import annotations

import os
from typing import Iterable, Optional, Tuple
from urllib.parse import urlsplit

DEFAULT_HOST = "api.neuralwatt.com"
API_BASE_ENV = "NEURALWATT_API_BASE"
HOSTS_ENV = "OTEL_INSTRUMENTATION_NEURALWATT_HOSTS"


def _parse_entry(entry: str) -> Optional[Tuple[str, Optional[int]]]:
    """`host`, `host:port`, `[v6]:port` or a URL -> (lower-case host, port or None for any)."""
    entry = entry.strip()
    if not entry:
        return None
    if "://" not in entry:
        entry = "//" + entry
    try:
        parts = urlsplit(entry)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    return (host.lower(), port) if host else None


class Endpoints:
    """Matches a client's base URL host and port against the configured Neuralwatt hosts."""

    def __init__(self, hosts: Iterable[str] = ()):
        entries = [DEFAULT_HOST, os.environ.get(API_BASE_ENV, "")]
        entries += os.environ.get(HOSTS_ENV, "").split(",")
        entries += list(hosts or ())
        self._any_port = set()
        self._exact = set()
        for entry in entries:
            parsed = _parse_entry(entry)
            if parsed is None:
                continue
            host, port = parsed
            if port is None:
                self._any_port.add(host)
            else:
                self._exact.add((host, port))

    def matches(self, host: str, port: Optional[int]) -> bool:
        host = host.lower().strip("[]")
        return host in self._any_port or (host, port) in self._exact

    def __repr__(self) -> str:
        names = sorted(self._any_port) + sorted(f"{h}:{p}" for h, p in self._exact)
        return f"Endpoints({', '.join(names)})"
