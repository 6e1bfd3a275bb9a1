"""How names and numbers enter a netlist: the sanitiser, the float format and code tokens."""

from __future__ import annotations

import math
import re

import pytest

from oscsim.spice.format import sanitize_name, spice_float
from oscsim.spice.pwl import code_token

SPICE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("osc_12", "osc_12"),
        ("12osc", "n12osc"),
        ("  cell a  ", "cell_a"),
        ("v1 0 dc 5\n.end", "v1_0_dc_5__end"),
        ("r*(1)", "r__1_"),
        ("x\n.include /etc/passwd * ; $", "x__include__etc_passwd______"),
        ("Ångström", "_ngstr_m"),
    ],
)
def test_sanitize_name_keeps_only_spice_name_characters(text: str, expected: str) -> None:
    """No newline, dot card, comment or other netlist syntax in user text survives."""
    name = sanitize_name(text)
    assert name == expected
    assert SPICE_NAME.match(name), name


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_sanitize_name_rejects_an_empty_name(blank: str) -> None:
    with pytest.raises(ValueError, match="empty name"):
        sanitize_name(blank)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.8, "1.800000e+00"),
        (1e-12, "1.000000e-12"),
        (-0.0, "0.000000e+00"),
        (-2.5e9, "-2.500000e+09"),
    ],
)
def test_spice_float_is_one_fixed_format(value: float, text: str) -> None:
    assert spice_float(value) == text
    assert float(text) == pytest.approx(value, rel=1e-6)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_spice_float_rejects_non_finite_values(bad: float) -> None:
    with pytest.raises(ValueError, match="must be finite"):
        spice_float(bad)


def test_code_token_spells_negative_codes_with_m() -> None:
    assert code_token((3, -2, 0)) == "3_m2_0"
    assert code_token([-7]) == "m7"
    assert SPICE_NAME.match("b_" + code_token((7, -8, 0, 1)))
