"""Entry point of the zipapp and of ``python3 -m berth_agent``."""

from __future__ import annotations

import sys

from berth_agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
