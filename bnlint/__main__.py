"""Allow ``python -m bnlint``."""

import sys

from bnlint.cli import main

sys.exit(main())
