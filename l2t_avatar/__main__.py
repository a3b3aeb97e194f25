"""`python -m l2t_avatar` runs the l2t-avatar command line."""

import sys

from l2t_avatar.cli import main

sys.exit(main())
