"""The energy report behind `llm neuralwatt energy`: llm's logs.db, summed per model and overall."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import units

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
    return moment.replace(tzinfo=None, microsecond=0).isoformat()


def _table(db: sqlite3.Connection) -> str | None:
    """llm >= 0.36 logs each call in `turns`; older releases in `responses`."""
    for table in ("turns", "responses"):
        columns = {row[1] for row in db.execute(f"pragma table_info({table})")}
        if {"model", "response_json", "output_tokens", "datetime_utc"} <= columns:
            return table
    return None


class NoLogs(Exception):
    """There is no llm logs database at the path asked for."""


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _logged(path: Path, since: str | None, model: str | None) -> list:
    """(model, response_json, output_tokens) of every logged call that may carry energy."""
    if not Path(path).is_file():
        raise NoLogs(f"no llm logs database at {path}: llm has logged no prompt there yet "
                     "(is logging on? `llm logs status`)")
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
        if model:  # a Neuralwatt model id with or without the plugin's `neuralwatt/` prefix
            bare = model.removeprefix("neuralwatt/")
            names = sorted({model, bare, f"neuralwatt/{bare}"})
            sql += f" and model in ({', '.join('?' * len(names))})"
            params += names
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def _empty(model: str) -> dict:
    return {"model": model, "requests": 0, "unmeasured": 0, "joules": 0.0, "output_tokens": 0,
            "carbon_g": None, "cost_usd": None, "_token_joules": 0.0}


def _add(row: dict, key: str, value: float | None) -> None:
    if value is not None:
        row[key] = (row[key] or 0.0) + value


def _count(row: dict, body: dict, output_tokens) -> None:
    """One logged call into a row: every call path (streamed or not, sync or async, each turn of
    a tool chain) is one logged record with its own energy object."""
    energy = body["energy"]
    joules = _number(energy.get("energy_joules"))
    if energy.get("measurement_available") is False or joules is None:
        row["unmeasured"] += 1
        return
    row["requests"] += 1
    row["joules"] += joules
    if isinstance(output_tokens, int) and output_tokens > 0:
        row["output_tokens"] += output_tokens
        row["_token_joules"] += joules
    _add(row, "carbon_g", _number(energy.get("carbon_g_co2eq")))
    cost = body.get("cost")
    _add(row, "cost_usd", _number(cost.get("request_cost_usd")) if isinstance(cost, dict) else None)


def _finish(row: dict) -> dict:
    token_joules = row.pop("_token_joules")
    row["wh"] = row["joules"] / 3600
    row["joules_per_request"] = row["joules"] / row["requests"] if row["requests"] else None
    row["joules_per_output_token"] = token_joules / row["output_tokens"] if row["output_tokens"] else None
    return row


def energy_report(path: Path, since: str | None = None, model: str | None = None) -> dict:
    """{"models": one row per model with logged energy, heaviest first; "total": all of them}.

    Raises `NoLogs` when there is no database at `path`."""
    models: dict = {}
    total = _empty("total")
    for model_id, response_json, output_tokens in _logged(path, since, model):
        try:
            body = json.loads(response_json)
        except (TypeError, ValueError):
            continue
        if not isinstance(body, dict) or not isinstance(body.get("energy"), dict):
            continue
        _count(models.setdefault(model_id, _empty(model_id)), body, output_tokens)
        _count(total, body, output_tokens)
    rows = sorted((_finish(row) for row in models.values()), key=lambda r: -r["joules"])
    total = _finish(total)
    del total["model"]
    return {"since": since, "model": model, "models": rows, "total": total}


def render_json(report: dict) -> str:
    """The report as JSON, numbers to 6 significant digits (not 7.250399999999999)."""
    return json.dumps(_rounded(report), indent=2)


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def _cell(value, unit) -> str:
    return "-" if value is None else unit(value)


def render_table(report: dict) -> str:
    rows = report["models"]
    if not rows:
        where = "".join(filter(None, [report["model"] and f" for {report['model']}",
                                      report["since"] and f" since {report['since']} UTC"]))
        return (f"No Neuralwatt energy in the logs{where or ' yet'}.\n"
                "Run a prompt with a Neuralwatt model, for example:  llm -m neuralwatt/openai/gpt-oss-20b 'Hello'")
    width = max(len("model"), *(len(row["model"]) for row in rows))
    columns = ("requests", "energy", "per request", "per out token", "CO2e", "cost")
    header = f"{'model':<{width}} " + " ".join(f"{c:>13}" for c in columns)
    lines = [header, "-" * len(header)]
    every = [*rows, {"model": "total", **report["total"]}]
    # One number of decimals for the whole cost column, so its digits line up row to row.
    dollars = units.dollar_column([row["cost_usd"] for row in every if row["cost_usd"] is not None])
    for row in every:
        if row["model"] == "total":
            lines.append("-" * len(header))
        cells = (str(row["requests"]), units.energy(row["joules"]), _cell(row["joules_per_request"], units.energy),
                 _cell(row["joules_per_output_token"], units.energy), _cell(row["carbon_g"], units.carbon),
                 _cell(row["cost_usd"], dollars))
        lines.append(f"{row['model']:<{width}} " + " ".join(f"{c:>13}" for c in cells))
    unmeasured = report["total"]["unmeasured"]
    if unmeasured:
        lines.append(f"({unmeasured} logged calls had no usable energy measurement and are not counted)")
    return "\n".join(lines)
