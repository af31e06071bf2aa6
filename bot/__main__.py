"""`python -m bot` runs the Slack bot, like `marginbot serve`."""

import sys

from bot.cli.main import console

sys.exit(console(["serve", *sys.argv[1:]]))
