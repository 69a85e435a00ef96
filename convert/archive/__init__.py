"""Stage 4, the archive: plan and update it (job), the catalog (catalog, search_index), seed keys (keys) and fixity checks (verify)."""
