"""``python -m cutmix_collate.benchmark`` (``--help`` for the options)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
