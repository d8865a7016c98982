"""`python -m openspace`: the same as the `openspace` command."""

from openspace.cli import main

main()
