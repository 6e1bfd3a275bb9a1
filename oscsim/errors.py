"""Exceptions oscsim raises for bad input; the CLI prints their message and exits non-zero."""

from collections.abc import Callable
from typing import NoReturn


class OscsimError(Exception):
    """Base class: a problem the user can fix; the message says what and how."""


class DataError(OscsimError):
    """A data set is missing, corrupt, truncated or malformed."""


class ModelFileError(OscsimError):
    """A model file is missing, malformed, or not an oscsim model."""


class SpiceError(OscsimError):
    """ngspice is missing, failed, timed out or did not converge."""


def run_script(main: Callable[[], int]) -> NoReturn:
    """Exit with ``main()``'s status; an OscsimError exits with its one-line message instead of
    a traceback (what the benchmark and helper scripts do under ``__main__``)."""
    try:
        raise SystemExit(main())
    except OscsimError as exc:
        raise SystemExit(f"error: {exc}") from None
