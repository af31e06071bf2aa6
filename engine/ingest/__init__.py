"""Ingest: one module per source. Every source ends in `engine.ingest.writer.EventWriter`."""
