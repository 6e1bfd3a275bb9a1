"""How scripts end: an OscsimError becomes a one-line message, anything else stays a bug."""

from __future__ import annotations

import pytest

from oscsim.errors import DataError, run_script


def test_run_script_exits_with_main_status() -> None:
    with pytest.raises(SystemExit) as ended:
        run_script(lambda: 3)
    assert ended.value.code == 3


def test_run_script_turns_a_user_error_into_one_line_without_traceback() -> None:
    def main() -> int:
        raise DataError("data/mnist: checksum mismatch; fetch it again")

    with pytest.raises(SystemExit) as ended:
        run_script(main)
    assert ended.value.code == "error: data/mnist: checksum mismatch; fetch it again"
    assert ended.value.__cause__ is None and ended.value.__suppress_context__


def test_run_script_lets_a_bug_raise_with_its_traceback() -> None:
    def main() -> int:
        raise KeyError("not a user error")

    with pytest.raises(KeyError):
        run_script(main)
