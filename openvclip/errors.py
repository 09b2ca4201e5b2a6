"""The user's errors: what a user gave (an argument, a file, a config value) is wrong, and the message says how.

The command line prints these as one line and exits with status 2; every other exception is a bug (ours or a
library's) and keeps its traceback. Both classes subclass the built-in exceptions they refine, so callers of the
package can catch ``ValueError`` / ``FileNotFoundError`` as before.
"""

from __future__ import annotations


class UserError(ValueError):
    """A bad argument, file or config value; the message names it and the fix."""


class MissingInput(UserError, FileNotFoundError):
    """A file or folder the user named, or an earlier step should have made, does not exist."""


class Unreachable(UserError, ConnectionError):
    """Something the command downloads could not be fetched (no connection, a server down): a fault of the
    machine's surroundings, not a bug; the message names what, where it looked, and the ways round it."""
