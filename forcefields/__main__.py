"""``python -m forcefields ...``: the same as the ``forcefields`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
