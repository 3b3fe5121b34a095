"""``python -m mrsisr``: the same command line as the ``mrsisr`` script."""

import sys

from mrsisr.cli import main

if __name__ == "__main__":
    sys.exit(main())
