"""`python -m pipelines.cli`: the same as the `partnerscore` command."""

from pipelines.cli.app import main

main()
