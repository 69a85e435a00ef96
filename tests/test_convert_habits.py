"""`seedpress convert` with pandoc's and ebook-convert's habits (DESIGN §4, issue 21):
`-o FILE` writes exactly that file, `-` reads standard input, `-M KEY=VALUE` sets a master
field, `seedpress` alone and `seedpress help CMD` print help, a usage error prints the
command's usage, and every option says what it does."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import zipfile

import docx
import pikepdf
import pytest
from support.run import COMMAND_TIMEOUT, json_lines, seedpress, seedpress_command, seedpress_environment

from convert.cli import parser
from convert.document.master import read_master

URL = "https://example.org/news/2005/02/10/bikes"
SEED = (f"City bikes return\n\nThe council voted to bring back the city bikes.\n\n"
        f"[Read the original article here]({URL})\n\nA welcome decision.\n")


@pytest.fixture
def seed(tmp_path):
    path = tmp_path / "in" / "bikes.txt"
    path.parent.mkdir()
    path.write_text(SEED, "utf-8")
    return path


def run_with_stdin(data: bytes, *arguments, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(seedpress_command(*arguments), input=data, capture_output=True,
                          timeout=COMMAND_TIMEOUT, cwd=cwd, env=seedpress_environment())


def check_edition(path, edition: str) -> None:
    """The file is the edition its extension names, as a reader of that format opens it."""
    if edition == "pdf":
        with pikepdf.open(path) as pdf:
            assert str(pdf.docinfo["/Title"]) == "City bikes return"
    elif edition == "epub":
        with zipfile.ZipFile(path) as epub:
            assert epub.read("mimetype") == b"application/epub+zip"
    elif edition == "docx":
        assert docx.Document(str(path)).core_properties.title == "City bikes return"
    else:
        document = read_master(path)
        assert document.title == "City bikes return" and document.original_article.url == URL


@pytest.mark.parametrize("edition", ["md", "pdf", "epub", "docx"])
def test_dash_o_writes_exactly_that_one_file(seed, tmp_path, edition):
    out = tmp_path / "out"
    out.mkdir()
    target = out / f"city bikes.{edition.upper() if edition == 'pdf' else edition}"
    result = seedpress("convert", seed, "-o", target)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{seed} -> {target}"
    assert [p.name for p in out.iterdir()] == [target.name]
    check_edition(target, edition)


def test_long_output_option_and_json(seed, tmp_path):
    target = tmp_path / "bikes.md"
    result = seedpress("convert", seed, "--output", target, "--json")
    assert result.returncode == 0, result.stderr
    [line] = json_lines(result.stdout)
    assert line["status"] == "built" and line["files"]["md"]["path"] == str(target)


@pytest.mark.parametrize("name", ["bikes.xyz", "bikes", "bikes.txt"])
def test_an_unknown_extension_is_a_usage_error_with_converts_usage(seed, tmp_path, name):
    result = seedpress("convert", seed, "-o", tmp_path / name)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: seedpress convert ")
    assert "unknown extension" in result.stderr.splitlines()[-1]
    assert not (tmp_path / name).exists()


def test_dash_o_takes_one_input_and_no_folder(seed, tmp_path):
    for extra in (["-o", tmp_path / "a.md", seed], ["-o", tmp_path / "a.md", "--out", tmp_path / "o"]):
        result = seedpress("convert", seed, *extra)
        assert result.returncode == 2 and "usage: seedpress convert" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_dash_o_mistakes_say_what_to_give_instead(seed, tmp_path):
    """`-o FOLDER` and `-o -` said "unknown extension"; two inputs with -o said "-o and -
    take exactly one input"."""
    folder = tmp_path / "folder"
    folder.mkdir()
    for arguments, said in (
            ([seed, "-o", folder], f"-o takes a file; to write into the folder {folder}, use --out {folder}"),
            ([seed, "-o", "-"], "-o -: the editions are not written to standard output; give -o FILE"),
            ([seed, seed, "-o", tmp_path / "x.pdf"],
             "-o FILE takes one input, and 2 were given: for several, use --out DIR"),
            (["-", seed, "--to", "md", "--out", folder], "- (standard input) must be the only input, and 2 were given"),
    ):
        result = seedpress("convert", *arguments)
        assert result.returncode == 2
        assert result.stderr.splitlines()[-1] == f"seedpress convert: error: {said}"
    assert list(folder.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["folder", "in"]


def test_out_with_a_file_name_points_at_dash_o(seed, tmp_path):
    result = seedpress("convert", seed, "--out", tmp_path / "bikes.pdf")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(f"use -o {tmp_path / 'bikes.pdf'}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_out_naming_a_file_is_refused_before_anything_is_built(seed, tmp_path):
    """Every input was rendered, then "cannot write afile/bikes: Not a directory" for each, exit 1."""
    existing = tmp_path / "afile"
    existing.write_text("mine\n", "utf-8")
    result = seedpress("convert", seed, seed, "--out", existing, "--json")
    said = f"--out {existing}: not a folder (a file is there)"
    assert result.returncode == 2 and result.stderr.splitlines()[-1].endswith(said)
    assert json_lines(result.stdout) == [{"error": said, "exit_code": 2}], "nothing built, only the error"
    assert existing.read_text("utf-8") == "mine\n"


def test_dash_o_that_cannot_be_written_names_its_file(seed, tmp_path):
    """It named the temporary file beside it: "cannot write afile/.bikes.pdf.24264.tmp"."""
    (tmp_path / "afile").write_text("mine\n", "utf-8")
    target = tmp_path / "afile" / "bikes.pdf"
    result = seedpress("convert", seed, "-o", target)
    assert result.returncode == 1
    assert result.stderr == f"seedpress: {seed}: cannot write {target}: Not a directory\n"


def test_a_folders_subfolder_seeds_are_named_not_passed_over(seed, tmp_path):
    """`convert FOLDER` converted the seeds directly in it and passed over those in its
    subfolders without a word (archive names them); the masters it wrote itself in an
    --out inside the folder are not named."""
    folder = tmp_path / "nest"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(seed.read_bytes())
    (folder / "sub" / "b.txt").write_bytes(seed.read_bytes())
    for _run in range(2):
        result = seedpress("convert", ".", "--to", "md", cwd=folder)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "a.txt -> out/a/ (md)\n"
        assert result.stderr == ("seedpress: sub/b.txt: in a subfolder of .: not converted (only the seeds "
                                 "directly in it are; give the subfolder too)\n")
    assert not (folder / "out" / "b").exists()


def test_a_failed_input_leaves_no_file_behind(tmp_path):
    bad = tmp_path / "empty.txt"
    bad.write_bytes(b"")
    out = tmp_path / "out"
    out.mkdir()
    result = seedpress("convert", bad, "-o", out / "empty.pdf")
    assert result.returncode == 1
    assert result.stderr.strip() == f"seedpress: {bad}: empty: no text in the file"
    assert list(out.iterdir()) == []


def test_dash_o_replaces_an_existing_file_whole(seed, tmp_path):
    target = tmp_path / "bikes.md"
    target.write_text("old", "utf-8")
    assert seedpress("convert", seed, "-o", target).returncode == 0
    check_edition(target, "md")


# --- standard input -----------------------------------------------------------------

def test_a_seed_from_standard_input_to_one_file(tmp_path):
    target = tmp_path / "bikes.docx"
    result = run_with_stdin(SEED.encode(), "convert", "-", "-o", target)
    assert result.returncode == 0, result.stderr
    check_edition(target, "docx")


def test_a_seed_from_standard_input_into_a_folder(tmp_path):
    result = run_with_stdin(SEED.encode(), "convert", "-", "--to", "md", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    [folder] = (tmp_path / "out").iterdir()
    [master] = folder.iterdir()
    assert master.suffix == ".md"
    check_edition(master, "md")


@pytest.mark.parametrize("arguments", [["-"], ["-", "--to", "md"], ["-", "--out", "o"]])
def test_standard_input_needs_somewhere_to_write(tmp_path, arguments):
    result = run_with_stdin(SEED.encode(), "convert", *arguments, cwd=tmp_path)
    assert result.returncode == 2
    assert b"usage: seedpress convert" in result.stderr and b"standard input" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_bad_seed_on_standard_input_is_one_line(tmp_path):
    result = run_with_stdin(b"\x00\x01\x02" * 100, "convert", "-", "-o", tmp_path / "x.md")
    assert result.returncode == 1
    assert result.stderr.decode().strip() == "seedpress: -: binary file: contains NUL bytes"
    assert list(tmp_path.iterdir()) == []


# --- -M / --metadata ------------------------------------------------------------------

def test_dash_m_sets_a_master_field_for_the_run(seed, tmp_path):
    target = tmp_path / "bikes.md"
    result = seedpress("convert", seed, "-o", target, "-M", "author=Ann Lee", "--metadata", "rights=CC BY 4.0")
    assert result.returncode == 0, result.stderr
    document = read_master(target)
    assert (document.author, document.rights) == ("Ann Lee", "CC BY 4.0")


def test_the_master_beats_the_command_line_which_beats_the_config(seed, tmp_path):
    config = tmp_path / "seedpress.toml"
    config.write_text('[metadata]\nauthor = "Config Author"\npublisher = "Config Press"\n', "utf-8")
    first = tmp_path / "first.md"
    assert seedpress("convert", seed, "-o", first, "--config", config, "-M", "author=Line Author").returncode == 0
    document = read_master(first)
    assert (document.author, document.publisher) == ("Line Author", "Config Press")
    second = tmp_path / "second.md"
    result = seedpress("convert", first, "-o", second, "--config", config, "-M", "author=Other", "-M",
                       "publisher=Line Press")
    assert result.returncode == 0, result.stderr
    assert read_master(second).author == "Line Author"  # the master's own
    assert read_master(second).publisher == "Config Press"  # recorded in the master too


@pytest.mark.parametrize("pair", ["bogus=1", "author", "license_url=javascript:alert(1)", "author=a\x01b"])
def test_a_bad_dash_m_is_a_usage_error(seed, tmp_path, pair):
    result = seedpress("convert", seed, "-o", tmp_path / "x.md", "-M", pair)
    assert result.returncode == 2
    assert "usage: seedpress convert" in result.stderr and "-M/--metadata" in result.stderr
    assert not (tmp_path / "x.md").exists()


# --- help and usage -------------------------------------------------------------------

def test_seedpress_alone_prints_help_and_exits_0():
    result = seedpress()
    assert result.returncode == 0
    assert result.stdout.startswith("usage: seedpress ") and "convert" in result.stdout and not result.stderr


@pytest.mark.parametrize("command", ["convert", "archive", "verify", "bag", "serve"])
def test_help_command_prints_that_commands_help(command):
    result = seedpress("help", command)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: seedpress {command} ")


def test_help_of_an_unknown_command_is_a_usage_error():
    result = seedpress("help", "frobnicate")
    assert result.returncode == 2 and "frobnicate" in result.stderr


@pytest.mark.parametrize("command", ["convert", "archive", "verify"])
def test_an_unknown_option_prints_that_commands_usage(command):
    result = seedpress(command, *(["x.txt"] if command == "convert" else []), "--no-such-option")
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: seedpress {command} ")
    assert "unrecognized arguments: --no-such-option" in result.stderr


@pytest.mark.parametrize(("command", "folder"), [("serve", "dist"), ("status", "dist"), ("verify", "my archive")])
def test_a_folder_given_without_dist_is_a_usage_error_that_shows_how_to_give_it(command, folder, tmp_path):
    """`seedpress serve dist`, as `archive SEEDS_DIR` takes its folder: the command's usage
    and one error line that gives the command with --dist, quoted for a shell."""
    result = subprocess.run(seedpress_command(command, folder), capture_output=True, text=True, cwd=tmp_path,
                            timeout=COMMAND_TIMEOUT, env=seedpress_environment())
    assert result.returncode == 2 and result.stdout == ""
    usage, error = result.stderr.split(f"seedpress {command}: error: ")
    assert usage.startswith(f"usage: seedpress {command} ")
    assert error == (f"unrecognized arguments: {folder} (the archive folder is given with --dist: "
                     f"seedpress {command} --dist {shlex.quote(folder)})\n")


def test_a_stray_argument_where_a_command_takes_positionals_gets_no_dist_hint(tmp_path):
    result = seedpress("bag", tmp_path / "bag", "extra")
    assert result.returncode == 2 and result.stderr.endswith("unrecognized arguments: extra\n")


def test_every_option_of_every_command_has_help_text():
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {'/'.join(action.option_strings) or action.dest}"
               for name, command in commands.choices.items() for action in command._actions
               if not action.help]
    assert missing == []


# --- no abbreviated options -----------------------------------------------------------

def _long_options(command: argparse.ArgumentParser) -> list[str]:
    return [option for action in command._actions for option in action.option_strings
            if option.startswith("--") and len(option) > 3]


def test_no_command_takes_an_option_by_a_beginning_of_its_name():
    """argparse took a beginning of an option's name for the option: `archive --all`, meant
    for `restore --all`, was --allow-mass-withdraw, and withdrew every title. Every
    beginning of every long option of every command is now a usage error."""
    program = parser()
    [commands] = [action for action in program._actions if isinstance(action, argparse._SubParsersAction)]
    checked = 0
    for name, command in commands.choices.items():
        positional = ["x"] if name in ("convert", "bag", "restore") else []
        options = _long_options(command)
        for option in options:
            for end in range(3, len(option)):
                if option[:end] in options:
                    continue  # a whole option of its own
                with pytest.raises(SystemExit) as refused:
                    command.parse_args([*positional, option[:end], "1"])
                assert refused.value.code == 2, (name, option[:end])
                checked += 1
    assert checked > 100


def test_archive_all_meant_for_restore_withdraws_nothing(archive_of_one, tmp_path):
    seeds, dist = archive_of_one
    empty = tmp_path / "empty"
    empty.mkdir()
    before = sorted(path.name for path in dist.iterdir())
    result = seedpress("archive", empty, "--dist", dist, "--all")
    assert result.returncode == 2 and result.stderr.endswith("error: unrecognized arguments: --all\n")
    assert sorted(path.name for path in dist.iterdir()) == before
    assert seedpress("verify", "--dist", dist).returncode == 0


@pytest.mark.parametrize("arguments", [["--bogus"], ["--bogus", "convert", "x.txt"], ["--dist", "dist", "status"]])
def test_an_option_before_the_command_says_options_come_after_it(arguments):
    """`seedpress --bogus` was told "the following arguments are required: COMMAND"."""
    result = seedpress(*arguments)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"seedpress: error: unrecognized arguments: {arguments[0]} (options come after the command: "
        "seedpress COMMAND [OPTIONS]; seedpress --help lists the commands)")
