"""Markdown table cells."""

from oscsim.tables import cell


def test_cell_formats_a_value_and_dashes_a_missing_one() -> None:
    assert cell(3.14159) == "3.14"
    assert cell(1234, ",") == "1,234"
    assert cell(0.5, "+.3f") == "+0.500"
    assert cell(None) == "–"
    assert cell(None, ".3f") == "–"
