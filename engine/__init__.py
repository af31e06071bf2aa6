"""The margin engine: priced usage + contract revenue → gross margin. Knows nothing of Slack."""
