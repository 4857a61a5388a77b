"""``python -m litlora_desktop``: same as the ``litlora-desktop`` command."""

import sys

from litlora_desktop.cli import main

sys.exit(main())
