"""``python -m api.cli`` = the ``cxlens`` console script."""
import sys

from . import main

sys.exit(main())
