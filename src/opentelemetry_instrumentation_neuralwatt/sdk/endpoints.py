"""Which servers are Neuralwatt: only their calls get a span of ours."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from . import settings

DEFAULT_HOST = "api.neuralwatt.com"
API_BASE_ENV = settings.API_BASE
HOSTS_ENV = settings.HOSTS

logger = logging.getLogger(__name__)


# A DNS name's labels (underscores allowed: container and service names use them).
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    return len(host) <= 253 and all(_LABEL.match(label) for label in labels)


def _parse_entry(entry: str) -> tuple[str, int | None] | None:
    """`host`, `host:port`, `[v6]:port` or a URL -> (lower-case host, port or None for any); None
    for anything else (`not a host!`, `exa mple.com:443`, a port out of range)."""
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
    return (host, port) if host and _is_host(host) else None


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
    wrong_types = [f"{entry!r} ({type(entry).__name__})" for entry in hosts if not isinstance(entry, str)]
    if wrong_types:
        raise TypeError(f"hosts= takes host strings, not: {', '.join(wrong_types)}")
    invalid = [entry for entry in hosts if _parse_entry(entry) is None]
    if invalid:
        raise ValueError(f"hosts= entries that are not a host, host:port or URL: {', '.join(map(repr, invalid))}")
    return hosts


class Endpoints:
    """Matches a client's base URL host and port against the configured Neuralwatt hosts."""

    def __init__(self, hosts: str | Iterable[str] | None = ()):
        given = _given_hosts(hosts)
        entries = [DEFAULT_HOST]
        base = settings.text(API_BASE_ENV)
        if base and _parse_entry(base) is None:
            settings.warn_once(API_BASE_ENV, base, "not a URL, so no host is taken from it")
        elif base:
            entries.append(base)
        listed = [entry.strip() for entry in settings.text(HOSTS_ENV).split(",") if entry.strip()]
        invalid = [entry for entry in listed if _parse_entry(entry) is None]
        if invalid:  # one warning naming them all: the valid entries still count
            settings.warn_once(HOSTS_ENV, settings.text(HOSTS_ENV), f"{', '.join(map(repr, invalid))} "
                               "not a host, host:port or URL, so left out (the other entries count)")
        entries += listed
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
