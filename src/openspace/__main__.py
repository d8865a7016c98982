"""`python -m openspace`: the same as the `openspace` command."""

from .cli import main

main()
