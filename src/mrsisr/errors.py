"""The one exception type the command line turns into a one-line message and exit code 2."""


class UserError(ValueError):
    """A problem with something the user gave us (a file, an argument, a value).

    The message must name the file or argument and what is accepted; it is printed as one
    line, without a traceback.
    """
