"""``python -m benchmarks``: the peer benchmark (see benchmarks/run.py)."""

import sys

from benchmarks.run import main

sys.exit(main())
