"""Stage 5, the hand-out written from the catalog: index pages, OPDS 1.2 and 2.0 feeds, SHA256SUMS, search pages and the Pagefind bundle."""
