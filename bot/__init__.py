"""marginbot's surfaces: the Slack app, the scheduler jobs and the command line."""
