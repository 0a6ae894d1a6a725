"""`python -m nbmigrate`: the same as the `nbmigrate` command."""

import sys

from .cli import main

sys.exit(main())
