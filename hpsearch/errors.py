"""The project's exceptions.

Every error a user can cause derives from :class:`HpsearchError`; the CLI turns
it into one line on stderr and exit status 2. Anything else is a bug (exit 1).
"""

from __future__ import annotations


class HpsearchError(Exception):
    """Base class of the errors a user can cause and fix."""


class ConfigError(HpsearchError, ValueError):
    """An experiment config is malformed: the message names file, key and value."""


class DataError(HpsearchError, ValueError):
    """A catalog is missing, unreadable or has the wrong layout."""


class RunError(HpsearchError):
    """A run folder cannot be used as asked (changed config, too many failures)."""
