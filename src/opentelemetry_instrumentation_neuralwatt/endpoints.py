"""Which servers are Neuralwatt: only their calls get a span of ours."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

DEFAULT_HOST = "api.neuralwatt.com"
API_BASE_ENV = "NEURALWATT_API_BASE"
HOSTS_ENV = "OTEL_INSTRUMENTATION_NEURALWATT_HOSTS"

logger = logging.getLogger(__name__)


def _parse_entry(entry: str) -> tuple[str, int | None] | None:
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


def _given_hosts(hosts: Any) -> list:
    """`instrument(hosts=...)`: one host string, or an iterable of them; anything else is a
    mistake the caller should hear about now, not a silent lack of spans later."""
    if hosts is None:
        return []
    if isinstance(hosts, str):
        hosts = [hosts]
    else:
        try:
            hosts = list(hosts)
        except TypeError:
            raise TypeError(f"hosts= takes a host string or an iterable of host strings, "
                            f"not {type(hosts).__name__}") from None
    for entry in hosts:
        if not isinstance(entry, str):
            raise TypeError(f"hosts= takes host strings; {entry!r} is a {type(entry).__name__}")
        if _parse_entry(entry) is None:
            raise ValueError(f"hosts= entry {entry!r} is not a host, host:port or URL")
    return hosts


class Endpoints:
    """Matches a client's base URL host and port against the configured Neuralwatt hosts."""

    def __init__(self, hosts: str | Iterable[str] | None = ()):
        given = _given_hosts(hosts)
        entries = [DEFAULT_HOST, os.environ.get(API_BASE_ENV, "")]
        for entry in os.environ.get(HOSTS_ENV, "").split(","):
            if entry.strip() and _parse_entry(entry) is None:
                logger.warning("neuralwatt: %s entry %r is not a host, host:port or URL; ignored", HOSTS_ENV, entry)
            entries.append(entry)
        entries += given
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

    def matches(self, host: str, port: int | None) -> bool:
        host = host.lower().strip("[]")
        return host in self._any_port or (host, port) in self._exact

    def __repr__(self) -> str:
        names = sorted(self._any_port) + sorted(f"{h}:{p}" for h, p in self._exact)
        return f"Endpoints({', '.join(names)})"
