"""`python -m switchboard`: the same CLI as the `switchboard` command."""

import sys

from switchboard.cli import main

sys.exit(main())
