"""The payload parser: what becomes an attribute, what feeds a metric, what is dropped."""

import json
import logging
import types

import pytest
from openai._streaming import SSEDecoder

from opentelemetry_instrumentation_neuralwatt.wire import sse, sse_bytes
from opentelemetry_instrumentation_neuralwatt.wire.energy import measurement
from opentelemetry_instrumentation_neuralwatt.wire.fields import MAX_EXTRA_FIELDS
from opentelemetry_instrumentation_neuralwatt.wire.payload import MAX_PAYLOAD_CHARS
from opentelemetry_instrumentation_neuralwatt.wire.sse import captured, hook_decoder, is_hooked

WIRE_EXAMPLE = {
    "energy_joules": 44.1, "energy_kwh": 1.2251e-05, "avg_power_watts": 4124.0, "duration_seconds": 0.463,
    "attribution_method": "prorated", "attribution_ratio": 0.0231, "carbon_g_co2eq": 0.0005146,
    "grid_carbon_intensity_gco2perkwhr": 42.0, "grid_id": "FI", "carbon_source": "agent_cache",
    "mcr": {"session_turns": 1},
}
COST_EXAMPLE = {"request_cost_usd": 6.1e-05, "cache_savings_usd": 0.0, "allowance_remaining_usd": 74.6,
                "budget_remaining_usd": 74.6}


def test_the_documented_payload_maps_to_the_contract():
    found = measurement(WIRE_EXAMPLE, COST_EXAMPLE)

    assert dict(found.attributes) == {
        "neuralwatt.energy.joules": 44.1,
        "neuralwatt.energy.kwh": 1.2251e-05,
        "neuralwatt.energy.avg_power_watts": 4124.0,
        "neuralwatt.energy.duration_seconds": 0.463,
        "neuralwatt.energy.attribution_method": "prorated",
        "neuralwatt.energy.attribution_ratio": 0.0231,
        "neuralwatt.energy.carbon_g_co2eq": 0.0005146,
        "neuralwatt.energy.grid_carbon_intensity": 42.0,
        "neuralwatt.energy.grid_id": "FI",
        "neuralwatt.energy.carbon_source": "agent_cache",
        "neuralwatt.energy.mcr.session_turns": 1,
        "neuralwatt.cost.request_cost_usd": 6.1e-05,
        "neuralwatt.cost.cache_savings_usd": 0.0,
        "neuralwatt.cost.allowance_remaining_usd": 74.6,
        "neuralwatt.cost.budget_remaining_usd": 74.6,
    }
    assert (found.joules, found.watts, found.carbon_g, found.cost_usd) == (44.1, 4124.0, 0.0005146, 6.1e-05)


def test_raw_json_text_is_accepted():
    assert measurement(json.dumps(WIRE_EXAMPLE)).joules == 44.1


def test_integers_become_floats_and_the_record_is_immutable():
    found = measurement({"energy_joules": 3})
    assert found.attributes["neuralwatt.energy.joules"] == 3.0
    assert isinstance(found.attributes["neuralwatt.energy.joules"], float)
    with pytest.raises(TypeError):
        found.attributes["neuralwatt.energy.joules"] = 1.0


def test_unmeasured_placeholders_are_not_data():
    found = measurement({"measurement_available": False, "energy_joules": 0.0, "avg_power_watts": 0.0})
    assert dict(found.attributes) == {"neuralwatt.energy.measurement_available": False}
    assert found.joules is None and found.measured is False


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 2e9, 10**400, "44.1", True, None, [1], {"j": 1}])
def test_invalid_joules_are_dropped(value):
    assert measurement({"energy_joules": value}) is None


@pytest.mark.parametrize("payload", ["{", "[1, 2]", "null", "", "x" * (MAX_PAYLOAD_CHARS + 1), 17, b"{}"])
def test_unusable_payloads_give_nothing(payload):
    assert measurement(payload) is None


def test_attribution_ratio_is_a_fraction():
    assert measurement({"attribution_ratio": 1.5}) is None
    assert measurement({"attribution_ratio": 1.0}).attributes == {"neuralwatt.energy.attribution_ratio": 1.0}


def test_unknown_fields_are_bounded():
    payload = {f"field_{i}": i for i in range(100)}
    payload["bad key!"] = 1
    payload["long"] = "y" * 10_000
    payload["deep"] = {"deeper": {"deepest": 1}}
    found = measurement(payload)

    assert len(found.attributes) == MAX_EXTRA_FIELDS
    assert all(key.startswith("neuralwatt.energy.field_") for key in found.attributes)


def test_long_strings_are_cut():
    found = measurement({"grid_id": "g" * 1000})
    assert found.attributes["neuralwatt.energy.grid_id"] == "g" * 256


def test_negative_balances_are_allowed_negative_costs_are_not():
    found = measurement(cost={"budget_remaining_usd": -3.5, "request_cost_usd": -0.01})
    assert dict(found.attributes) == {"neuralwatt.cost.budget_remaining_usd": -3.5}
    assert found.cost_usd is None


def feed(decoder, lines):
    """Run lines through the decoder's `decode`, as the SDK does, with the hook in front."""
    hook_decoder(decoder)
    return [decoder.decode(line) for line in lines]


def test_the_hook_keeps_energy_and_cost_comments_and_ignores_others():
    decoder = SSEDecoder()
    events = feed(decoder, [": ping", ': mcr-session {"a": 1}', 'data: {"choices": []}', "",
                            ': energy {"energy_joules": 15.23}', ': cost {"request_cost_usd": 6.1e-05}',
                            "data: [DONE]", ""])

    assert [event.data for event in events if event] == ['{"choices": []}', "[DONE]"]  # the SDK's events, unchanged

    found = captured(decoder)
    assert dict(found.attributes) == {"neuralwatt.energy.joules": 15.23, "neuralwatt.cost.request_cost_usd": 6.1e-05}


def test_the_hook_ignores_lookalike_comments():
    decoder = SSEDecoder()
    feed(decoder, [': energy_debug {"energy_joules": 1}', ':costly {"request_cost_usd": 1}'])
    assert captured(decoder) is None


def test_a_comment_wins_over_energy_in_a_data_chunk():
    decoder = SSEDecoder()
    in_data = {"energy_joules": 1.0}
    assert captured(decoder, data_energy=in_data).joules == 1.0
    feed(decoder, [': energy {"energy_joules": 2.0}'])
    assert captured(decoder, data_energy=in_data).joules == 2.0


def test_a_decoder_is_hooked_once_and_its_class_never():
    decoder = SSEDecoder()
    hook_decoder(decoder)
    hooked = decoder.decode
    hook_decoder(decoder)

    assert decoder.decode is hooked and is_hooked(hooked) and not is_hooked(SSEDecoder().decode)
    assert type(SSEDecoder.__dict__["decode"]) is types.FunctionType  # the SDK's class is untouched
    feed(decoder, [': energy {"energy_joules": 2.0}'])
    assert captured(decoder).joules == 2.0


def test_a_decoder_without_decode_or_without_attributes_is_left_working():
    class BytesDecoder:  # the SDK's SSEBytesDecoder protocol asks for iter_bytes only
        __slots__ = ()

    class FrozenDecoder(SSEDecoder):
        def __setattr__(self, name, value):
            if name == "decode":
                raise AttributeError(name)
            super().__setattr__(name, value)

    hook_decoder(BytesDecoder())
    hook_decoder(None)
    frozen = FrozenDecoder()
    hook_decoder(frozen)

    assert "decode" not in vars(frozen)
    assert frozen.decode("data: x") is None and frozen.decode("").data == "x"


def test_known_fields_are_never_crowded_out_by_unknown_ones_whatever_the_order():
    unknown = {f"extra_{i}": i for i in range(500)}
    known = {"energy_joules": 209.9, "ratio_was_capped": True, "uncapped_attribution_ratio": 0.1478,
             "uncapped_energy_joules": 661.32, "uncapped_energy_kwh": 0.0001837, "cost_usd": 0.000292}
    for payload in ({**unknown, **known}, {**known, **unknown}):
        found = measurement(payload)
        assert found.attributes["neuralwatt.energy.ratio_was_capped"] is True
        assert found.attributes["neuralwatt.energy.uncapped_energy_joules"] == 661.32
        assert found.attributes["neuralwatt.energy.cost_usd"] == 0.000292
        assert found.joules == 209.9
        extras = [k for k in found.attributes if k.startswith("neuralwatt.energy.extra_")]
        assert len(extras) == MAX_EXTRA_FIELDS >= 64


def test_every_mcr_key_is_kept_with_its_type_and_strings_are_bounded():
    mcr = {f"metric_{i}": i for i in range(20)}
    mcr.update(compaction_triggered=False, mode="x" * 1000, ratio=0.5)
    found = measurement({"energy_joules": 1.0, "mcr": mcr, **{f"u{i}": i for i in range(100)}})

    kept = {k[len("neuralwatt.energy.mcr."):]: v for k, v in found.attributes.items() if ".mcr." in k}
    assert kept == {**mcr, "mode": "x" * 256}
    assert kept["compaction_triggered"] is False and type(kept["metric_3"]) is int


def test_wire_names_make_attribute_names_only_of_lower_case_digits_and_underscores():
    found = measurement({"energy_joules": 1.0, "ok_name": 1, "trailing\n": 2, "Upper": 3, "dash-ed": 4})
    assert sorted(found.attributes) == ["neuralwatt.energy.joules", "neuralwatt.energy.ok_name"]


def test_an_unknown_field_never_takes_the_attribute_name_of_a_known_one():
    found = measurement({"energy_joules": 15.23, "joules": 999.0, "kwh": 1.0, "grid_carbon_intensity": 7.0,
                         "grid_carbon_intensity_gco2perkwhr": 42.0})

    assert found.attributes["neuralwatt.energy.joules"] == found.joules == 15.23
    assert "neuralwatt.energy.kwh" not in found.attributes
    assert found.attributes["neuralwatt.energy.grid_carbon_intensity"] == 42.0


def test_a_valid_report_builds_its_attributes_only_when_they_are_asked_for(caplog):
    found = measurement(WIRE_EXAMPLE, COST_EXAMPLE)
    assert found._attributes is None  # a span that is not kept never pays for them
    assert (found.joules, found.cost_usd) == (44.1, 6.1e-05)
    assert found.attributes["neuralwatt.energy.grid_id"] == "FI" and found.attributes is found.attributes


@pytest.mark.parametrize("energy", [{"energy_joules": -1.0, "grid_id": "FI"}, {"energy_joules": 1.0, "avg_power_watts": "x"},
                                    {"measurement_available": "yes", "energy_joules": 1.0}])
def test_an_invalid_metric_field_is_dropped_and_logged_at_once(energy, caplog):
    with caplog.at_level(logging.DEBUG, logger="opentelemetry_instrumentation_neuralwatt"):
        found = measurement(energy)
    assert found._attributes is not None and "dropped invalid energy/cost fields" in caplog.text
    assert found.watts is None


# -- capture in the bytes (sse_bytes.py): whatever way the network cuts the body --

STREAM = (b'event: mcr-status\ndata: {"phase": "compacting"}\n\n'
          b'data: {"choices": []}\n\n'
          b': energy {"energy_joules": 15.23, "grid_id": "FI: north"}\n: cost {"request_cost_usd": 6.1e-05}\n'
          b'data: [DONE]\n\n')


def events_through_the_hook(pieces):
    decoder = SSEDecoder()
    assert sse_bytes.hook_bytes(decoder)
    return decoder, [event.data for event in decoder.iter_bytes(iter(pieces))]


@pytest.mark.parametrize("size", [1, 2, 7, 64, len(STREAM)])
def test_comments_and_status_frames_are_kept_however_the_body_is_cut(size):
    """Pieces of every size, down to one byte: a comment line or a status frame's name cut across
    reads is kept whole, and the SDK's events are exactly those it decodes without us."""
    decoder, events = events_through_the_hook([STREAM[i:i + size] for i in range(0, len(STREAM), size)])

    assert events == ['{"phase": "compacting"}', '{"choices": []}', "[DONE]"]
    assert dict(captured(decoder).attributes) == {"neuralwatt.energy.joules": 15.23,
                                                  "neuralwatt.energy.grid_id": "FI: north",
                                                  "neuralwatt.cost.request_cost_usd": 6.1e-05}
    assert getattr(decoder, sse.MCR_STATUS) == ['{"phase": "compacting"}']


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_comments_are_kept_with_every_line_ending(newline):
    decoder, _ = events_through_the_hook([STREAM.replace(b"\n", newline)[i:i + 5] for i in range(0, 400, 5)])
    assert captured(decoder).joules == 15.23


def test_a_colon_inside_a_line_cut_at_a_read_is_no_comment():
    """`: energy` inside a data line, cut so a read starts with it, is the data's, not a comment."""
    body = b'data: {"text": "x: energy {\\"energy_joules\\": 9.0}"}\n\n'
    cut = body.index(b": energy")
    decoder, events = events_through_the_hook([body[:cut], body[cut:]])
    assert len(events) == 1 and captured(decoder) is None
