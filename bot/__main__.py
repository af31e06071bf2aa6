"""`python -m bot` runs the Slack bot, like `marginbot serve`."""

import sys

from bot.cli.main import main

sys.exit(main(["serve", *sys.argv[1:]]))
