"""``python -m rra`` runs the ``rra`` command."""

from rra.agent.rootcli import main

main()
