"""Beside the archive: a BagIt deposit of it (bag) with its provenance as PREMIS 3 (premis)."""
