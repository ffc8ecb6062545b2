"""One exception type for mistakes a user can fix, so the CLI can print one line instead of a traceback."""


class UserError(Exception):
    """Bad input from the user: a file, option or value that is not what was expected.

    The message must name the file or option and what was expected; the CLI prints it
    as a single line and exits with status 2.
    """
