"""What each `/margin` form does: read the command, ask the engine, hand the result to a Block Kit builder."""
