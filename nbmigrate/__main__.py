"""`python -m nbmigrate` and the `nbmigrate` console script.

This module imports nothing of nbmigrate until Ctrl-C is handled: an interrupt while the
command starts up is one line and exit 130, not a traceback from the middle of an import.
"""

import sys


def run() -> int:
    """The console script's entry point."""
    try:
        from .cli import main
    except KeyboardInterrupt:
        print("interrupted: stopped before anything ran", file=sys.stderr)
        return 130
    code = main()
    # The work is done and said: a Ctrl-C landing during interpreter shutdown must not turn
    # the exit code into a kill by signal.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(run())
