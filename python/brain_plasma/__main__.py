"""``python -m brain_plasma ARGS...`` runs the `brain` command (see _cli)."""
import sys

from ._cli import main

sys.exit(main())
