"""`python -m paperchat ...` is the `paperchat` command."""

from paperchat.cli import main

main()
