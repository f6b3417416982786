"""``python -m mireg ...`` (and ``torchrun -m mireg train ...``) runs the ``mireg`` command."""

import sys

from mireg.cli import main

sys.exit(main())
