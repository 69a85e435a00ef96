"""Stage 3, one input → its files, all or nothing (input), under its limits (limits), with what decides a rebuild (environment) and what became of it (outcome)."""
