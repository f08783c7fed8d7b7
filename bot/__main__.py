"""``python -m bot``: the same as the ``route-me`` command."""

from bot.cli import main

raise SystemExit(main())
