"""One module per source connector; engine.ingest.sync maps each name to its connector."""

# The names `marginbot sync` accepts, in the order `sync all` runs them. Spelled out here, in a module that imports
# nothing, so the command line's parser does not load every connector and an HTTP client to list them; a test checks
# they are engine.ingest.sync.SOURCES.
SYNC_SOURCES = ("openai", "anthropic", "litellm", "langfuse", "stripe")
