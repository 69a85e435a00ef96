"""Stage 1, the document: seed bytes → the frozen Document → the Markdown master and back (seed, master, frontmatter, model, language, labels, provenance)."""
