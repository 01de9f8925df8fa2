"""``python -m weatherstream watch ...``: the same as the ``weatherstream`` command."""

import sys

from .cli import main

sys.exit(main())
