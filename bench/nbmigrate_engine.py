"""`nbmigrate ARGS` with the stdlib fast path of status and no-op up turned off: the engine answers all.

bench/run.py runs this as the `nbmigrate-engine` runner, to measure what engine/readonly.py buys.
"""

from __future__ import annotations

import sys

from nbmigrate import cli

cli._read_only_answer = lambda settings, ns: None  # type: ignore[assignment]  # the engine answers
sys.exit(cli.main())
