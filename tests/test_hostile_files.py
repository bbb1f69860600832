"""Hostile job files (shared jobs, files from others): each class of file ends at once with one
line naming the file, the line and what is wrong, exit code 2, and nothing written.

The classes are generated (sizes, places, characters vary) rather than fixed files: alias
bombs, aliases inside their own anchor, bytes that are not UTF-8, control characters raw and
escaped, documents that are not one mapping, nesting, size, keys that are not names."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest
import yaml
from conftest import Cli, ok, tiny_job

from orchestrator.cli.configfile import MAX_BYTES, MAX_DEPTH, MAX_VALUES, read_config
from orchestrator.cli.jobfile import check_argv
from orchestrator.engine.errors import UserError

GOOD = yaml.safe_dump(tiny_job(), sort_keys=False)


def _bomb(levels: int, width: int, where: str) -> tuple[str, int]:
    """A billion-laughs file: `levels` anchors each aliasing the one before `width` times."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    anchors = "\n".join(f"  {line}" for line in lines)
    if where == "style":
        return f"name: bomb\nx:\n{anchors}\nstyle: *l{levels - 1}\n", 0
    if where == "shots":
        shots = f"shots:\n  - prompt: a\n    cast: *l{levels - 1}\n"
        return f"name: bomb\nx:\n{anchors}\n{shots}", 0
    # A merge key copies the anchor's mapping into every shot.
    table = "\n".join(f"  m{i}: &m{i} {{{', '.join(f'k{j}: *l{i}' for j in range(width))}}}"
                      for i in range(levels))  # fmt: skip
    return f"x:\n{anchors}\n{table}\nshots:\n  - <<: *m{levels - 1}\n", 0


def _expect(text: str | bytes, tmp_path: Path, line: int | None, words: str) -> str:
    """check_argv (what the CLI runs before Hydra reads a file) refuses the job file in one
    line naming the file, `line` and `words`; returns that line."""
    (tmp_path / "job").mkdir(exist_ok=True)
    path = tmp_path / "job" / "shared.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    start = time.monotonic()
    with pytest.raises(UserError) as caught:
        check_argv(["--config-dir", str(tmp_path), "job=shared"])
    message = caught.value.line()
    assert time.monotonic() - start < 10, "a hostile file must not hang the check"
    assert "\n" not in message
    assert message.startswith(f"error: {path}: "), message
    if line is not None:
        assert re.search(rf": line {line}, column \d+: ", message), message
    assert re.search(words, message), message
    return message


@pytest.mark.parametrize("where", ["style", "shots", "merge"])
@pytest.mark.parametrize("levels,width", [(9, 9), (12, 4), (6, 30), (30, 2)])
def test_alias_bombs_are_counted_not_expanded(tmp_path: Path, where: str, levels: int, width: int):
    text, _ = _bomb(levels, width, where)
    _expect(text, tmp_path, None, rf"alias \*[lm]\d+ expands the file past {MAX_VALUES:,} values")


def test_a_small_alias_table_under_the_limit_is_fine(tmp_path: Path):
    """Aliases as users write them (a prompt used twice, a merge key) are not refused."""
    text = (
        "name: anchors\nwidth: 64\nheight: 48\nshots:\n"
        "  - &first {prompt: &p a red kite over a field, motion: the kite climbs, seconds: 1}\n"
        "  - {<<: *first, prompt: *p}\n"
    )
    path = tmp_path / "a.yaml"
    path.write_text(text)
    data = read_config(path)
    assert data["shots"][1] == data["shots"][0]


@pytest.mark.parametrize(
    "text,line",
    [
        ("shots: &a\n  - prompt: hi\n    cast: *a\n", 3),
        ("name: x\nstyle: &s [a, [b, *s]]\n", 2),
        ("a: &m {b: {c: *m}}\n", 1),
    ],
)
def test_an_alias_inside_its_own_anchor_is_a_loop(tmp_path: Path, text: str, line: int):
    _expect(text, tmp_path, line, r"alias \*\w+ is inside its own anchor &\w+ \(a loop\)")


def test_an_alias_to_no_anchor_is_named(tmp_path: Path):
    _expect("name: x\nstyle: *nowhere\n", tmp_path, 2, r"alias \*nowhere names no anchor")


@pytest.mark.parametrize("seed", range(6))
def test_bytes_that_are_not_utf8_name_their_line_and_column(tmp_path: Path, seed: int):
    rng = random.Random(seed)
    lines = GOOD.encode().splitlines(keepends=True)
    at = rng.randrange(len(lines))
    column = rng.randrange(max(1, len(lines[at]) - 1))
    bad = rng.choice([b"\xe9", b"\xff", b"\xc3", b"\x80\x80", b"\xed\xa0\x80", b"\xf8"])
    lines[at] = lines[at][:column] + bad + lines[at][column:]
    message = _expect(b"".join(lines), tmp_path, at + 1, r"byte 0x[0-9A-F]{2} is not UTF-8 text")
    assert f"column {column + 1}:" in message


def test_utf16_and_binary_files_are_named_as_such(tmp_path: Path):
    _expect(GOOD.encode("utf-16"), tmp_path, None, r"UTF-16 text; save the file as UTF-8")
    noise = bytes(random.Random(1).randrange(256) for _ in range(3000))
    _expect(b"\x89PNG\r\n\x1a\n" + noise, tmp_path, 1, r"not UTF-8 text|not text")


# NEL (U+0085) is a line break to YAML, not a stray character.
CONTROLS = [c for c in range(0x20) if chr(c) not in "\t\n\r"] + [0x7F, *range(0x80, 0xA0)]
CONTROLS.remove(0x85)


@pytest.mark.parametrize("code", CONTROLS[::3] + [0])
def test_a_raw_control_character_is_named_in_words(tmp_path: Path, code: int):
    text = GOOD.replace("a lighthouse", f"a light{chr(code)}house")
    line = GOOD[: GOOD.index("a lighthouse")].count("\n") + 1
    name = "a NUL character" if code == 0 else rf"control character U\+{code:04X} \(\w+"
    _expect(text, tmp_path, line, rf"{name}.*is not text")


@pytest.mark.parametrize("escape", ["\\0", "\\x1b[31m", "\\a", "\\x7f", "\\u0090", "\\e"])
def test_an_escaped_control_character_is_named_in_words(tmp_path: Path, escape: str):
    text = GOOD.replace("prompt: a lighthouse at night", f'prompt: "a light{escape}house"')
    line = text[: text.index("a light")].count("\n") + 1
    _expect(text, tmp_path, line, r"character 8 of this value is .*, which is not text")


@pytest.mark.parametrize(
    "text,words",
    [
        ("- name: x\n- shots: []\n", r"holds a list; a job file is a mapping of keys"),
        ("just a sentence\n", r"holds the single value 'just a sentence'; a job file is a mapping"),
        ("42\n", r"holds the single value '42'"),
        ("name: x\n---\nname: y\n", r"a second YAML document"),
        ("name: x\n...\n---\n- a\n", r"a second YAML document"),
    ],
)
def test_a_file_that_is_not_one_mapping_is_named(tmp_path: Path, text: str, words: str):
    _expect(text, tmp_path, None, words)


@pytest.mark.parametrize("style", ["flow", "block", "flow-long"])
def test_nesting_deeper_than_the_limit_is_refused(tmp_path: Path, style: str):
    depth = {"flow": MAX_DEPTH + 1, "block": MAX_DEPTH + 1, "flow-long": 20_000}[style]
    if style == "block":
        text = "".join(f"{'  ' * i}k{i}:\n" for i in range(depth)) + f"{'  ' * depth}v\n"
    else:
        text = "name: x\nstyle: " + "[" * depth + "]" * depth + "\n"
    _expect(text, tmp_path, None, r"nested more than \d+ levels deep|nesting depth")


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path):
    text = "name: x\nstyle: '" + "a" * MAX_BYTES + "'\n"
    _expect(text, tmp_path, None, r"larger than 1 MiB, the limit for a job file")


def test_many_values_without_aliases_are_refused(tmp_path: Path):
    text = "name: x\nstyle: [" + ", ".join(["1"] * (MAX_VALUES + 10)) + "]\n"
    _expect(text, tmp_path, 2, rf"more than {MAX_VALUES:,} values")


@pytest.mark.parametrize(
    "key,kind", [("yes", "bool"), ("1", "int"), ("2.5", "float"), ("~", "null"), ("on", "bool")]
)
def test_a_key_that_is_not_a_name_says_to_quote_it(tmp_path: Path, key: str, kind: str):
    text = GOOD.replace("  seconds: 1.0\n", f"  seconds: 1.0\n  {key}: 3\n", 1)
    line = text.splitlines().index(f"  {key}: 3") + 1
    _expect(text, tmp_path, line, rf"the key '{re.escape(key)}' reads as {kind}, not a name")


@pytest.mark.parametrize(
    "text,words",
    [
        ("name: x\nshots:\n\t- prompt: y\n", r"found character '\\t' that cannot start any token"),
        ("name: x\nname: y\n", r"found duplicate key name"),
        ("name: !!python/object/apply:os.system [ls]\n", r"tag !!python/object/apply:os.system"),
        ("name: !custom [ls]\n", r"could not determine a constructor for the tag '!custom'"),
        ("name: [a, b\nstyle: c\n", r"expected ',' or ']'"),
        ('name: "open\n', r"found unexpected end of stream"),
    ],
)
def test_a_yaml_error_keeps_its_reason_and_line(tmp_path: Path, text: str, words: str):
    _expect(text, tmp_path, None, words)


@pytest.mark.parametrize(
    "value,tag",
    [("!!binary aGVsbG8=", "binary"), ("!!set {a, b}", "set"), ("!!omap [a: 1]", "omap"),
     ("!!pairs [a: 1]", "pairs"), ("!!python/name:os.system ''", "python/name:os.system")],
)  # fmt: skip
def test_a_yaml_type_a_config_does_not_hold_is_named(tmp_path: Path, value: str, tag: str):
    text = GOOD.replace("style: ''", f"style: {value}")
    line = text.splitlines().index(f"style: {value}") + 1
    _expect(text, tmp_path, line, rf"the tag !!{re.escape(tag)} is not a config value")


def test_a_file_the_job_pulls_in_is_read_with_the_same_limits(tmp_path: Path):
    (tmp_path / "cast").mkdir()
    (tmp_path / "cast" / "crew.yaml").write_text(_bomb(9, 9, "style")[0])
    text = "defaults:\n  - /cast/crew@job.cast\n  - _self_\n" + GOOD
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "shared.yaml").write_text(text)
    with pytest.raises(UserError) as caught:
        check_argv(["--config-dir", str(tmp_path), "job=shared"])
    assert caught.value.line().startswith(f"error: {tmp_path / 'cast' / 'crew.yaml'}: line ")


@pytest.mark.parametrize("choice", ["preset=mine", "preset=[draft,mine]", "preset=draft,mine"])
def test_a_group_option_of_the_users_own_is_read_with_limits(tmp_path: Path, choice: str):
    (tmp_path / "preset").mkdir()
    (tmp_path / "preset" / "mine.yaml").write_bytes(b"# @package _global_\nseed: \xff\n")
    with pytest.raises(UserError, match=r"preset/mine.yaml: line 2, column 7: byte 0xFF"):
        check_argv(["--config-dir", str(tmp_path), choice])


@pytest.mark.parametrize("chain", [["shared"], ["shared", "b"], ["shared", "b", "c"]])
def test_a_defaults_list_that_pulls_in_itself_is_a_loop(tmp_path: Path, chain: list[str]):
    """Hydra recurses without end on a defaults loop; renga names the files in the loop."""
    (tmp_path / "job").mkdir()
    for name, after in zip(chain, [*chain[1:], chain[0]], strict=True):
        body = GOOD if name == "shared" else ""
        text = f"defaults:\n  - {after}\n  - _self_\n{body}"
        (tmp_path / "job" / f"{name}.yaml").write_text(text)
    loop = " -> ".join(f"{name}.yaml" for name in [*chain, chain[0]])
    _expect((tmp_path / "job" / "shared.yaml").read_text(), tmp_path, None,
            rf"its defaults list pulls in itself \({re.escape(loop)}\), a loop")  # fmt: skip


# Through the real CLI: one line, exit 2, nothing written, at once (each class once; the
# in-process cases above run the same check the CLI runs first).
CLI_CASES = {
    "bomb": (_bomb(9, 9, "shots")[0].encode(), "alias"),
    "loop": (b"name: x\nshots: &a\n  - prompt: hi\n    cast: *a\n", "inside its own anchor"),
    "latin-1": ("name: café\n".encode("latin-1"), "line 1, column 10: byte 0xE9 is not UTF-8"),
    "nul": (GOOD.replace("a red kite", "a red\0kite").encode(), "a NUL character"),
    "list": (b"- name: x\n- shots: []\n", "holds a list"),
}
QUICK_CLI = {"bomb", "nul"}
CLI_RUNS = [
    *((case, None) if case in QUICK_CLI else pytest.param(case, None, marks=pytest.mark.slow)
      for case in CLI_CASES),
    *((case, "plan") for case in sorted(QUICK_CLI)),
]  # fmt: skip


@pytest.mark.parametrize("case,command", CLI_RUNS)
def test_the_cli_refuses_a_hostile_job_file_in_one_line(
    cli: Cli, tmp_path: Path, case: str, command: str | None
):
    data, words = CLI_CASES[case]
    (cli.jobs / "job").mkdir(parents=True)
    (cli.jobs / "job" / "shared.yaml").write_bytes(data)
    (cli.jobs / "job" / "plain.yaml").write_text(GOOD)
    result = cli("job=shared", "preset=draft", "--config-dir", str(cli.jobs), command=command,
                 timeout=60)  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"error: {cli.jobs / 'job' / 'shared.yaml'}: "), lines[0]
    assert words in lines[0], lines[0]
    assert not result.run_dir.exists()  # type: ignore[attr-defined]
    assert not cli.cache.exists() or not any(cli.cache.rglob("manifest.json"))


@pytest.mark.slow
def test_a_sweep_with_one_hostile_job_refuses_before_any_job_runs(cli: Cli, tmp_path: Path):
    (cli.jobs / "job").mkdir(parents=True)
    (cli.jobs / "job" / "plain.yaml").write_text(GOOD)
    (cli.jobs / "job" / "shared.yaml").write_text(_bomb(10, 8, "style")[0])
    sweep = tmp_path / "sweep"
    result = cli("job=plain,shared", "preset=draft", f"hydra.sweep.dir={sweep}",
                 "--config-dir", str(cli.jobs), "-m", timeout=60)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "shared.yaml" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not sweep.exists()


@pytest.mark.slow
def test_anchors_bom_and_crlf_in_a_legit_job_render_as_the_plain_job(cli: Cli):
    """A job written with anchors, a byte-order mark and Windows line ends is the same job."""
    text = (
        "\ufeffname: tiny\r\nwidth: 64\r\nheight: 48\r\nstyle: ''\r\nnegative_prompt: ''\r\n"
        "shots:\r\n"
        "  - &shot {prompt: a red kite over a field, motion: &m the kite climbs, seconds: 1.0}\r\n"
        "  - {<<: *shot, prompt: a lighthouse at night, motion: the beam sweeps}\r\n"
    )
    (cli.jobs / "job").mkdir(parents=True)
    (cli.jobs / "job" / "anchors.yaml").write_text(text, newline="")
    fancy = ok(cli("job=anchors", "preset=draft", "--config-dir", str(cli.jobs), "--json",
                   command="plan"))  # fmt: skip
    plain = ok(cli("preset=draft", "--json", job=tiny_job(), command="plan"))
    assert fancy.stdout == plain.stdout


@pytest.mark.parametrize(
    "name,kind", [("inf", "a number"), ("1", "a number"), ("true", "true/false")]
)
def test_an_option_name_hydra_reads_as_a_value_says_to_quote_it(
    tmp_path: Path, name: str, kind: str
):
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / f"{name}.yaml").write_text(GOOD)
    with pytest.raises(UserError) as caught:
        check_argv(["--config-dir", str(tmp_path), f"job={name}"])
    assert caught.value.line() == (
        f"error: job={name}: Hydra reads {name!r} as {kind}, not an option name; "
        f"quote it: job=\"'{name}'\""
    )
    check_argv(["--config-dir", str(tmp_path), f"job='{name}'"])  # quoted, it is a name
