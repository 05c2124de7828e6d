"""``python -m tracelog``: the ``tracelog`` command."""

import sys

from tracelog.cli import main

if __name__ == "__main__":
    sys.exit(main())
