"""Allow ``python -m build_deck``."""

from build_deck.cli import main

raise SystemExit(main())
