import sys

from forcefields.cli import main

sys.exit(main())
