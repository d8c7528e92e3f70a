"""``python -m bayesparse``: the same as the ``bayesparse`` console script."""

from bayesparse.cli import main

raise SystemExit(main())
