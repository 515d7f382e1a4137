"""``python -m kotasks`` runs the ``kotasks`` command."""

import sys

from kotasks.cli import main

sys.exit(main())
