"""The one exception type that reaches users as a one-line message instead of a traceback."""

import click


class UserError(click.ClickException):
    """Bad input or an impossible request. The CLI prints ``Error: <message>`` and exits 1.

    Library code raises it with a message that says what is wrong *and* what to do about it.
    """

    exit_code = 1
