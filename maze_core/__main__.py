"""``python -m maze_core``: the same as the ``maze`` command."""

from maze_core.cli import main

main()
