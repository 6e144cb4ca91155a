"""Quantities for people: energy in J, Wh or kWh, carbon in mg, g or kg, money in dollars, each
with four significant digits and no exponent, so columns of very different sizes stay readable."""

from __future__ import annotations

import math

SIGNIFICANT = 4
JOULES_PER_WH = 3600.0


def significant(value: float, digits: int = SIGNIFICANT) -> str:
    """`value` rounded to `digits` significant digits, written without an exponent."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def energy(joules: float) -> str:
    """2.668 J, 14.24 Wh, 1.234 kWh: joules below one watt-hour, watt-hours below a kilowatt-hour."""
    if abs(joules) < JOULES_PER_WH:
        return f"{significant(joules)} J"
    if abs(joules) < 1000 * JOULES_PER_WH:
        return f"{significant(joules / JOULES_PER_WH)} Wh"
    return f"{significant(joules / JOULES_PER_WH / 1000)} kWh"


def carbon(grams: float) -> str:
    """31.10 mg, 2.500 g, 1.200 kg of CO2e."""
    if abs(grams) < 1:
        return f"{significant(grams * 1000)} mg"
    if abs(grams) < 1000:
        return f"{significant(grams)} g"
    return f"{significant(grams / 1000)} kg"


def dollars(usd: float) -> str:
    return f"${significant(usd)}"


def dollar_column(values: list[float]):
    """A formatter for a column of dollar amounts: one number of decimals for all of them, enough
    for four significant digits of the smallest non-zero one."""
    smallest = min((abs(v) for v in values if v and math.isfinite(v)), default=1.0)
    decimals = max(2, SIGNIFICANT - 1 - math.floor(math.log10(smallest)))
    return lambda usd: f"${usd:.{decimals}f}"
