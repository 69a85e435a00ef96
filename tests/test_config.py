"""seedpress.toml and --config (DESIGN §10): what a good file gives, and every bad file refused
with one line naming the file and the key, exit 2, before anything is written."""

from __future__ import annotations

import argparse

import pytest
from support.run import REAL_SEED, assert_one_line_error, seedpress

from convert import cli
from convert.config import CONFIG_NAME, Config, load_config
from convert.document.provenance import MAX_TEXT, Provenance
from convert.errors import ConfigError

EXAMPLE = """\
[archive]
title = "Example Press archive"                 # index page and feed titles
base_url = "https://archive.example.org/"       # absolute links in OPDS
[metadata]                                      # defaults for every seed
author = "Jane Doe"
publisher = "Example Press"
rights = "CC BY 4.0"
license_url = "https://creativecommons.org/licenses/by/4.0/"
"""

#: A bad file, and what its one line must say after "<file>: ".
BAD_FILES = {
    "unknown key": ('[metadata]\nautor = "Jane Doe"\n', "metadata.autor: unknown key (did you mean author?)"),
    "unknown table": ('[metdata]\nauthor = "Jane Doe"\n', "metdata: unknown key (did you mean metadata?)"),
    "key outside a table": ('title = "An archive"\n', "title: unknown key outside a table; it belongs under [archive]"),
    "unknown key like none": ('[archive]\nzzz = 1\n', "archive.zzz: unknown key (the keys here: title, base_url, "),
    "number for text": ("[metadata]\nauthor = 3\n", "metadata.author: must be text"),
    "list for text": ('[metadata]\nrights = ["CC BY"]\n', "metadata.rights: must be text"),
    "text for a table": ('archive = "mine"\n', "archive: must be a table"),
    "relative base_url": ('[archive]\nbase_url = "archive/"\n', "archive.base_url: must be an absolute http(s) URL"),
    "base_url with a query": ('[archive]\nbase_url = "https://a.example/?x=1"\n',
                              "archive.base_url: must not have a query or fragment"),
    "license_url not http": ('[metadata]\nlicense_url = "javascript:alert(1)"\n',
                             "metadata.license_url: must be an absolute http(s) URL"),
    "license_url with a quote": ("[metadata]\nlicense_url = 'https://example.org/\"x\"'\n",
                                 "metadata.license_url: must be an absolute http(s) URL"),
    "blank author": ('[metadata]\nauthor = "  "\n', "metadata.author: must not be blank"),
    "line break": ('[metadata]\nrights = "CC BY\\n4.0"\n', "metadata.rights: holds the control character U+000A"),
    "too long": (f'[archive]\ntitle = "{"x" * (MAX_TEXT + 1)}"\n',
                 f"archive.title: longer than {MAX_TEXT} characters"),
    "TOML syntax": ('[metadata]\nauthor = "Jane\n', "not valid TOML: "),
    "not UTF-8": ('[metadata]\nauthor = "J\xe4ne"\n'.encode("latin-1"), "not UTF-8"),
}


def write(path, content: str | bytes):
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


# --- load_config, in-process ----------------------------------------------------------

def test_the_example_file_gives_every_value(tmp_path):
    config = load_config(write(tmp_path / CONFIG_NAME, EXAMPLE))
    assert config.archive.title == "Example Press archive"
    assert config.archive.base_url == "https://archive.example.org/"
    assert config.metadata.provenance() == Provenance(
        author="Jane Doe", publisher="Example Press", rights="CC BY 4.0",
        license_url="https://creativecommons.org/licenses/by/4.0/")


def test_no_file_in_the_current_folder_gives_the_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(None) == Config()
    assert not load_config(None).metadata.provenance()
    write(tmp_path / CONFIG_NAME, EXAMPLE)
    assert load_config(None).metadata.author == "Jane Doe"


def test_base_url_gets_its_final_slash(tmp_path):
    config = load_config(write(tmp_path / "c.toml", '[archive]\nbase_url = "https://example.org/press"\n'))
    assert config.archive.base_url == "https://example.org/press/"


def test_the_configuration_is_frozen(tmp_path):
    config = load_config(write(tmp_path / "c.toml", EXAMPLE))
    with pytest.raises((AttributeError, TypeError, ValueError)):
        config.metadata.author = "Someone else"


def test_empty_tables_and_an_empty_file_are_fine(tmp_path):
    assert load_config(write(tmp_path / "empty.toml", "")) == Config()
    assert load_config(write(tmp_path / "tables.toml", "[archive]\n[metadata]\n")) == Config()


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_one_line_naming_the_file_and_the_key(tmp_path, case):
    content, expected = BAD_FILES[case]
    path = write(tmp_path / CONFIG_NAME, content)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {expected}"), message


def test_a_toml_syntax_error_says_where(tmp_path):
    path = write(tmp_path / CONFIG_NAME, '[archive]\ntitle = "Press"\n[metadata]\nauthor = Jane\n')
    with pytest.raises(ConfigError, match=r"\(at line 4, column \d+\)"):
        load_config(path)


def test_a_missing_or_unreadable_file_given_by_name_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="missing.toml: cannot read the configuration: No such file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="cannot read the configuration: Is a directory"):
        load_config(tmp_path)


# --- the command line -----------------------------------------------------------------

def test_every_command_takes_config(capsys):
    """--config comes from one parent parser: every subcommand has it, a new one too."""
    commands = next(action for action in cli.parser()._actions if isinstance(action, argparse._SubParsersAction))
    # `seedpress help [COMMAND]` prints help and reads no configuration: it is no command of its own.
    assert set(commands.choices) - {"help"} == set(cli.COMMANDS)
    for name, command in commands.choices.items():
        if name != "help":
            assert "--config" in command._option_string_actions, name


@pytest.mark.parametrize("command", ["convert", "archive"])
@pytest.mark.parametrize("case", ["unknown key", "number for text", "relative base_url", "TOML syntax"])
def test_a_bad_file_stops_the_command_before_anything_is_written(tmp_path, command, case):
    content, expected = BAD_FILES[case]
    config = write(tmp_path / "press.toml", content)
    out = tmp_path / "out"
    where = [REAL_SEED, "--out", out] if command == "convert" else [REAL_SEED.parent, "--dist", out]
    result = seedpress(command, *where, "--config", config)
    assert result.returncode == 2, result.stderr
    line = assert_one_line_error(result.stderr, str(config))
    assert line.startswith(f"seedpress: {config}: {expected}"), line
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize("command", ["convert", "archive"])
def test_the_file_in_the_current_folder_is_read_by_default(tmp_path, command):
    write(tmp_path / CONFIG_NAME, BAD_FILES["unknown key"][0])
    where = [REAL_SEED, "--out", "out"] if command == "convert" else [REAL_SEED.parent, "--dist", "out"]
    result = seedpress(command, *where, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"seedpress: {CONFIG_NAME}: metadata.autor: unknown key (did you mean author?)\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("arguments", [["verify", "--dist", "nowhere"], ["serve", "--dist", "nowhere", "--port", "1"]])
def test_verify_and_serve_refuse_a_missing_config_file(tmp_path, arguments):
    result = seedpress(*arguments, "--config", tmp_path / "missing.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (f"seedpress: {tmp_path / 'missing.toml'}: cannot read the configuration: "
                             "No such file or directory\n")


@pytest.mark.parametrize("option, value, reason", [
    ("--author", "", "must not be blank"),
    ("--rights", "two\nlines", "holds the control character U+000A"),
    ("--license-url", "creativecommons.org/licenses/by/4.0/", "must be an absolute http(s) URL"),
])
def test_bad_metadata_options_are_usage_errors(tmp_path, option, value, reason):
    result = seedpress("convert", REAL_SEED, "--out", tmp_path / "out", option, value)
    assert result.returncode == 2
    assert f"argument {option}: {reason}" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_cluster_table_sets_the_drivers_deadlines(tmp_path):
    """[cluster] grace and answer_margin reach the driver; without them the defaults hold."""
    from convert.defaults import CLUSTER_ANSWER_MARGIN, CLUSTER_GRACE
    from convert.runners.cluster import Deadlines

    path = tmp_path / "seedpress.toml"
    path.write_text("[cluster]\ngrace = 7\nanswer_margin = 12.5\n")
    assert load_config(path).cluster.deadlines() == Deadlines(grace=7, answer_margin=12.5)
    path.write_text("[archive]\ntitle = \"T\"\n")
    assert load_config(path).cluster.deadlines() == Deadlines(grace=CLUSTER_GRACE,
                                                              answer_margin=CLUSTER_ANSWER_MARGIN)


@pytest.mark.parametrize(("text", "message"), [
    ("[cluster]\ngrace = 0\n", "cluster.grace: Input should be greater than 0"),
    ("[cluster]\nanswer_margin = 86401\n", "cluster.answer_margin: Input should be less than or equal to 86400"),
    ("[cluster]\ngrace = \"60\"\n", "cluster.grace: Input should be a valid number"),
    ("[cluster]\ngrace = true\n", "cluster.grace: Input should be a valid number"),
])
def test_a_bad_cluster_deadline_is_one_line_naming_the_key(tmp_path, text, message):
    path = tmp_path / "seedpress.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == f"{path}: {message}"
