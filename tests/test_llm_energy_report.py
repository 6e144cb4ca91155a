"""The energy report over logs.db files as llm writes them: the `turns` table of llm 0.36 and the
`responses` table of earlier releases, and rows the report must count, set apart or pass over."""

import json
import sqlite3

import pytest

from opentelemetry_instrumentation_neuralwatt.llm_plugin import report


def logs_db(path, table, rows):
    db = sqlite3.connect(path)
    db.execute(f"create table {table} (id text, model text, response_json text, output_tokens integer, "
               "datetime_utc text)")
    db.executemany(f"insert into {table} values (?, ?, ?, ?, ?)",
                   [(str(i), *row) for i, row in enumerate(rows)])
    db.commit()
    db.close()
    return path


def body(joules, carbon=None, usd=None, **energy):
    found = {"energy": {"energy_joules": joules, **energy}}
    if carbon is not None:
        found["energy"]["carbon_g_co2eq"] = carbon
    if usd is not None:
        found["cost"] = {"request_cost_usd": usd}
    return json.dumps(found)


@pytest.mark.parametrize("table", ["turns", "responses"])
def test_both_log_schemas_are_read(tmp_path, table):
    path = logs_db(tmp_path / "logs.db", table, [
        ("m1", body(10.0, 0.5, 0.01), 5, "2026-11-01T10:00:00"),
        ("m1", body(20.0, 0.25, 0.02), 15, "2026-11-02T10:00:00"),
        ("m2", body(3600.0 * 2), None, "2026-11-03T10:00:00"),
    ])

    found = report.energy_report(path)

    (m2, m1) = found["models"]  # heaviest first
    assert m1 == {"model": "m1", "requests": 2, "unmeasured": 0, "joules": 30.0, "output_tokens": 20,
                  "carbon_g": 0.75, "cost_usd": 0.03, "wh": 30.0 / 3600, "joules_per_request": 15.0,
                  "joules_per_output_token": 1.5}
    assert m2["joules"] == 7200.0 and m2["joules_per_output_token"] is None and m2["cost_usd"] is None
    assert found["total"]["requests"] == 3 and found["total"]["joules"] == 7230.0
    assert found["total"]["carbon_g"] == 0.75 and found["total"]["cost_usd"] == 0.03
    assert "model" not in found["total"]
    assert report.energy_report(path, since="2026-11-02T00:00:00")["total"]["joules"] == 7220.0
    assert report.energy_report(path, model="m2")["total"]["joules"] == 7200.0


def test_unmeasured_and_unusable_rows(tmp_path):
    path = logs_db(tmp_path / "logs.db", "turns", [
        ("m", body(5.0), 1, "2026-11-01"),
        ("m", json.dumps({"energy": {"measurement_available": False}}), 1, "2026-11-01"),
        ("m", body(-1.0), 1, "2026-11-01"),  # a negative reading is no reading
        ("m", '{"energy": {"energy_joules": NaN}}', 1, "2026-11-01"),
        ("m", body("12"), 1, "2026-11-01"),  # a string is not a number
        ("m", '{"energy": "12 J"}', 1, "2026-11-01"),  # not an energy object: not ours
        ("m", '{"energy": ', 1, "2026-11-01"),  # not JSON
        ("m", json.dumps({"id": "x", "note": "no energy here"}), 1, "2026-11-01"),
    ])

    (row,) = report.energy_report(path)["models"]

    assert row["requests"] == 1 and row["joules"] == 5.0
    assert row["unmeasured"] == 4


def test_a_database_without_a_log_table_has_no_records(tmp_path):
    path = tmp_path / "logs.db"
    sqlite3.connect(path).close()

    found = report.energy_report(path)
    assert found["models"] == [] and found["total"]["requests"] == 0
    assert report.render_table(found).startswith("No Neuralwatt energy in the logs yet.")


def test_no_database_is_an_error_that_names_the_path(tmp_path):
    with pytest.raises(report.NoLogs, match="no llm logs database at .*missing.db"):
        report.energy_report(tmp_path / "missing.db")


def test_the_report_never_writes_to_the_logs(tmp_path):
    path = logs_db(tmp_path / "logs.db", "turns", [("m", body(1.0), 1, "2026-11-01")])
    before = path.read_bytes()

    report.energy_report(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("asked", ["openai/gpt-oss-20b", "neuralwatt/openai/gpt-oss-20b"])
def test_a_model_is_found_with_or_without_the_plugin_prefix(tmp_path, asked):
    path = logs_db(tmp_path / "logs.db", "turns", [
        ("neuralwatt/openai/gpt-oss-20b", body(1.5), 3, "2026-11-01T10:00:00"),
        ("neuralwatt/openai/gpt-oss-20b", body(2.5), 3, "2026-11-01T11:00:00"),
        ("neuralwatt/moonshotai/Kimi-K2.6", body(9.0), 3, "2026-11-01T12:00:00"),
    ])
    found = report.energy_report(path, model=asked)
    assert [(m["model"], m["requests"], m["joules"]) for m in found["models"]] == [
        ("neuralwatt/openai/gpt-oss-20b", 2, 4.0)]


def test_json_numbers_have_six_significant_digits(tmp_path):
    path = logs_db(tmp_path / "logs.db", "turns", [("m", body(7.2504), 1, "2026-11-01T10:00:00"),
                                                   ("m", body(0.0000000001), 1, "2026-11-01T10:00:00")])
    rendered = json.loads(report.render_json(report.energy_report(path)))
    assert rendered["total"]["joules"] == 7.2504  # not 7.250400000100001
    assert rendered["total"]["wh"] == 0.002014


def test_since_an_age_has_no_microseconds():
    from datetime import datetime, timezone

    now = datetime(2026, 12, 1, 3, 30, 12, 654321, tzinfo=timezone.utc)
    assert report.parse_since("0d", now) == "2026-12-01T03:30:12"
    assert report.parse_since("1h", now) == "2026-12-01T02:30:12"


def test_the_cost_column_has_one_number_of_decimals(tmp_path):
    path = logs_db(tmp_path / "logs.db", "turns", [
        ("small", body(1.0, usd=0.0000058), 1, "2026-11-01T10:00:00"),
        ("large", body(2.0, usd=0.0123), 1, "2026-11-01T10:00:00"),
    ])
    lines = report.render_table(report.energy_report(path)).splitlines()
    costs = [line.split()[-1] for line in lines if line.startswith(("small", "large", "total"))]
    assert costs == ["$0.012300000", "$0.000005800", "$0.012305800"]
