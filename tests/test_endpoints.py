"""Which servers are Neuralwatt: `hosts=` and OTEL_INSTRUMENTATION_NEURALWATT_HOSTS as documented
(`host`, `host:port`, `[v6]:port` or a URL); a mistaken entry is named, never silently ignored."""

import logging

import pytest

from opentelemetry_instrumentation_neuralwatt.sdk.endpoints import Endpoints


@pytest.mark.parametrize(("entry", "host", "port"), [
    ("gateway.internal", "gateway.internal", 1234),  # any port
    ("gateway.internal:8443", "gateway.internal", 8443),
    ("http://127.0.0.1:8080/v1", "127.0.0.1", 8080),  # an emulator's or a proxy's base URL
    ("[::1]:9000", "::1", 9000),
    ("my_service:80", "my_service", 80),
    ("LOCALHOST", "localhost", 1234),
])
def test_valid_entries_are_taken(entry, host, port, monkeypatch):
    monkeypatch.delenv("OTEL_INSTRUMENTATION_NEURALWATT_HOSTS", raising=False)
    assert Endpoints([entry]).matches(host, port)


def test_invalid_entries_in_the_argument_are_a_value_error_naming_them(monkeypatch):
    monkeypatch.delenv("OTEL_INSTRUMENTATION_NEURALWATT_HOSTS", raising=False)
    with pytest.raises(ValueError) as raised:
        Endpoints(["ok.example", "not a host!", "exa mple.com:443", "host:99999"])
    message = str(raised.value)
    assert "'not a host!'" in message and "'exa mple.com:443'" in message and "'host:99999'" in message
    assert "ok.example" not in message


def test_entries_of_the_wrong_type_are_a_type_error_in_plain_words():
    with pytest.raises(TypeError) as raised:
        Endpoints(["ok.example", 3, None])
    assert str(raised.value) == "hosts= takes host strings, not: 3 (int), None (NoneType)"


def test_invalid_entries_in_the_environment_get_one_warning_naming_them(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_NEURALWATT_HOSTS", "good.example:8443, not a host!,exa mple.com:443 ,")
    with caplog.at_level(logging.WARNING, logger="opentelemetry_instrumentation_neuralwatt"):
        endpoints = Endpoints()
    (warning,) = [r.getMessage() for r in caplog.records]
    # the variable and its value, then what is left out: the invalid entries, by name, and only those
    named, left_out = warning.split(" is not valid: ")
    assert named == "neuralwatt: OTEL_INSTRUMENTATION_NEURALWATT_HOSTS='good.example:8443, not a host!,exa mple.com:443 ,'"
    assert "'not a host!'" in left_out and "'exa mple.com:443'" in left_out and "good.example" not in left_out
    assert endpoints.matches("good.example", 8443) and not endpoints.matches("exa mple.com", 443)
