"""The energy report behind `llm neuralwatt energy`: llm's logs.db, summed per model."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

_AGE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> str:
    """`7d`, `24h`, `30m`, a date or an ISO time -> an ISO UTC time to compare with datetime_utc."""
    text = text.strip()
    now = now or datetime.now(timezone.utc)
    age = _AGE.match(text)
    if age:
        moment = now - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is neither a date/time (2026-11-01, 2026-11-01T12:00) "
                             "nor an age (30m, 24h, 7d)") from None
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone.utc)
    return moment.replace(tzinfo=None).isoformat()


def _table(db: sqlite3.Connection) -> str | None:
    """llm >= 0.36 logs each call in `turns`; older releases in `responses`."""
    for table in ("turns", "responses"):
        columns = {row[1] for row in db.execute(f"pragma table_info({table})")}
        if {"model", "response_json", "output_tokens", "datetime_utc"} <= columns:
            return table
    return None


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def energy_by_model(path: Path, since: str | None = None, model: str | None = None) -> list:
    """One row per model with logged energy, heaviest first."""
    if not Path(path).exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        table = _table(db)
        if table is None:
            return []
        sql = f"select model, response_json, output_tokens from {table} where response_json like '%\"energy\"%'"
        params = []
        if since:
            sql += " and datetime_utc >= ?"
            params.append(since)
        if model:
            sql += " and model = ?"
            params.append(model)
        rows = db.execute(sql, params).fetchall()
    finally:
        db.close()

    totals: dict = {}
    for model_id, response_json, output_tokens in rows:
        try:
            body = json.loads(response_json)
        except (TypeError, ValueError):
            continue
        energy = body.get("energy") if isinstance(body, dict) else None
        if not isinstance(energy, dict):
            continue
        row = totals.setdefault(model_id, {"model": model_id, "requests": 0, "unmeasured": 0, "joules": 0.0,
                                           "tokens_joules": 0.0, "output_tokens": 0, "carbon_g": None,
                                           "cost_usd": None})
        joules = _number(energy.get("energy_joules"))
        if energy.get("measurement_available") is False or joules is None:
            row["unmeasured"] += 1
            continue
        row["requests"] += 1
        row["joules"] += joules
        if isinstance(output_tokens, int) and output_tokens > 0:
            row["output_tokens"] += output_tokens
            row["tokens_joules"] += joules
        carbon = _number(energy.get("carbon_g_co2eq"))
        if carbon is not None:
            row["carbon_g"] = (row["carbon_g"] or 0.0) + carbon
        cost = body.get("cost")
        usd = _number(cost.get("request_cost_usd")) if isinstance(cost, dict) else None
        if usd is not None:
            row["cost_usd"] = (row["cost_usd"] or 0.0) + usd

    result = []
    for row in totals.values():
        tokens_joules = row.pop("tokens_joules")
        row["wh"] = row["joules"] / 3600
        row["joules_per_request"] = row["joules"] / row["requests"] if row["requests"] else None
        row["joules_per_output_token"] = tokens_joules / row["output_tokens"] if row["output_tokens"] else None
        result.append(row)
    return sorted(result, key=lambda r: -r["joules"])


def render_json(rows: list) -> str:
    return json.dumps(rows, indent=2)


def _cell(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render_table(rows: list) -> str:
    if not rows:
        return ("No Neuralwatt energy in the logs yet.\n"
                "Run a prompt with a Neuralwatt model, for example:  llm -m neuralwatt/openai/gpt-oss-20b 'Hello'")
    header = (f"{'model':<40} {'requests':>8} {'joules':>12} {'Wh':>10} {'J/request':>10} {'J/out tok':>10} "
              f"{'g CO2e':>10} {'USD':>10}")
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['model']:<40} {row['requests']:>8} {row['joules']:>12.4f} {row['wh']:>10.5f} "
            f"{_cell(row['joules_per_request'], '.4f'):>10} {_cell(row['joules_per_output_token'], '.4f'):>10} "
            f"{_cell(row['carbon_g'], '.3g'):>10} {_cell(row['cost_usd'], '.6f'):>10}"
        )
    unmeasured = sum(row["unmeasured"] for row in rows)
    total = sum(row["joules"] for row in rows)
    lines.append("-" * len(header))
    lines.append(f"{'total':<40} {sum(r['requests'] for r in rows):>8} {total:>12.4f} {total / 3600:>10.5f}")
    if unmeasured:
        lines.append(f"({unmeasured} logged calls were not measured by Neuralwatt)")
    return "\n".join(lines)
