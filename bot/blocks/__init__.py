"""Pure Block Kit builders: an engine result in, a message (`Answer`) or a view dict out. No I/O, no Slack."""
