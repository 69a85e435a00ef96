"""seedpress: plain-text article seeds into a Markdown master and PDF, EPUB, DOCX editions.

The library behind the `seedpress` command, one entry point per command:

    from pathlib import Path
    import convert

    for outcome in convert.convert_paths([Path("seeds/a.txt")], Path("out")):
        print(outcome.status, outcome.files.get("pdf"))
    totals = convert.run_archive(Path("seeds"), Path("dist"))
    problems = convert.verify_archive(Path("dist"))
    print("\n".join(convert.archive_status(Path("dist")).lines()))
    restored = convert.restore_titles(Path("dist"), every=True)      # withdrawn titles back
    summary = convert.write_bag(Path("dist"), Path("deposit"), publisher="Example Press")

    # Author, publisher, rights and license of every seed: seedpress.toml's, or given directly.
    config = convert.load_config(Path("seedpress.toml"))
    options = convert.BuildOptions(provenance=config.metadata.provenance())
    options = convert.BuildOptions(provenance=convert.Provenance(author="Jane Doe", rights="CC BY 4.0"))

Errors a user can act on are `SeedpressError`s (convert.errors); an input that
fails is an Outcome with status "failed", never an exception.
"""

__version__ = "0.1.0"
#: The program's name, as feeds name their author and generator.
PROGRAM = "seedpress"
#: What every file seedpress writes names as its generator (HTML meta, PDF, master, bag).
GENERATOR = f"{PROGRAM} {__version__}"

__all__ = [
    "__version__",
    # convert: inputs into editions
    "convert_paths", "BuildOptions", "read_seed", "read_master", "to_markdown", "Document",
    # archive: a seeds folder into an archive, and its checks
    "run_archive", "JobOptions", "RunTotals", "verify_archive", "archive_status", "restore_titles",
    # bag: the archive as a BagIt deposit
    "write_bag", "BagSummary",
    # what became of each input
    "Outcome", "Status", "EditionFile", "Built",
    # seedpress.toml, and the author, publisher, rights and license it gives every seed
    "load_config", "Config", "Provenance",
    # errors
    "SeedpressError", "SeedError", "RenderError", "ConfigError", "LockedError", "MassWithdrawalRefused",
]

#: Where each public name lives; imported on first use, so `import convert` stays cheap.
_HOMES = {
    "convert_paths": "jobs", "BuildOptions": "build.input", "read_seed": "document.seed", "read_master": "document.master",
    "to_markdown": "document.master", "Document": "document.model", "run_archive": "jobs", "JobOptions": "jobs",
    "RunTotals": "archive.job", "verify_archive": "archive.verify", "write_bag": "deposit.bag", "BagSummary": "deposit.bag",
    "Outcome": "build.outcome", "Status": "build.outcome", "EditionFile": "build.outcome", "Built": "build.outcome",
    "SeedpressError": "errors", "SeedError": "errors", "RenderError": "errors", "ConfigError": "errors",
    "LockedError": "errors", "MassWithdrawalRefused": "errors",
    "archive_status": "archive.status", "restore_titles": "jobs",
    "load_config": "config", "Config": "config", "Provenance": "document.provenance",
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'convert' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
