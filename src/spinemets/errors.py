"""Exceptions with a meaning for the command line.

Every error caused by the user's input derives from :class:`InputError`; the CLI prints its
message as one line and exits with code 2 (never a traceback).
"""


class SpinemetsError(Exception):
    """Base class of all spinemets errors."""


class InputError(SpinemetsError):
    """The input cannot be used (unreadable, not CT, missing slices, ...). CLI exit code 2."""

    exit_code = 2


class NotCTError(InputError):
    """The data are readable but are not a CT (e.g. MR)."""


class MissingDependencyError(SpinemetsError):
    """An optional backend (nnU-Net, TotalSegmentator, OpenSim, ...) or its weights are missing."""

    exit_code = 3
