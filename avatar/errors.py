"""The one exception type for problems a user can cause (bad files, bad arguments).

The CLI prints such errors as a single line and exits with code 2; anything else
is a bug and keeps its traceback.
"""


class L2TError(Exception):
    """A user-facing error: a missing, wrong or corrupt input, or a bad option."""
