"""`python -m avatar` runs the l2t-avatar command line."""

import sys

from avatar.cli import main

sys.exit(main())
