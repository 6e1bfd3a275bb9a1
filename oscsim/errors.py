"""Exceptions oscsim raises for bad input; the CLI prints their message and exits non-zero."""


class OscsimError(Exception):
    """Base class: a problem the user can fix; the message says what and how."""


class DataError(OscsimError):
    """A data set is missing, corrupt, truncated or malformed."""


class ModelFileError(OscsimError):
    """A model file is missing, malformed, or not an oscsim model."""


class SpiceError(OscsimError):
    """ngspice is missing, failed, timed out or did not converge."""
