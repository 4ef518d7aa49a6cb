"""``python -m trainer train``'s flags are Config's fields: declared once, in trainer/config.py."""

import dataclasses

import pytest

from trainer.cli import _parser, config_from
from trainer.config import Config, names

FLAGS = [f for f in dataclasses.fields(Config) if "help" in f.metadata]


def _flag(field):
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def _other_value(field):
    """A command-line value for ``field`` that is not its default, and the Config value it must give."""
    if isinstance(field.default, bool):
        return [], True
    if field.metadata.get("type") is names:  # a comma-separated list
        return ["one,two"], ("one", "two")
    if field.default is None:
        return ["given"], "given"
    if isinstance(field.default, tuple):
        return ["one", "two"], ("one", "two")
    if "choices" in field.metadata:
        value = next(c for c in field.metadata["choices"] if c != field.default)
        return [str(value)], value
    value = field.default + 1 if isinstance(field.default, (int, float)) else field.default + "_other"
    return [str(value)], value


def test_defaults_of_the_parser_are_the_config_defaults():
    args = _parser().parse_args(["train", "--data", "d", "--out", "o"])
    assert config_from(args) == Config(data=("d",))


@pytest.mark.parametrize("field", FLAGS, ids=[f.name for f in FLAGS])
def test_every_config_field_is_a_flag(field):
    """Each field reaches Config through its own flag, whatever the others say."""
    words, expected = _other_value(field)
    base = [] if field.name == "data" else ["--data", "d"]
    config = config_from(_parser().parse_args(["train", *base, _flag(field), *words, "--out", "o"]))
    assert getattr(config, field.name) == expected
    others = {f.name: getattr(config, f.name) for f in FLAGS if f.name not in (field.name, "data")}
    assert others == {name: getattr(Config(), name) for name in others}


def test_help_lists_every_flag_in_its_group_with_its_default(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "10000")  # one line per flag: wrapping would break "one-hot"
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for field in FLAGS:
        assert _flag(field) in text
        assert field.metadata["help"].replace("%%", "%") in text
    for group in {f.metadata["group"] for f in FLAGS}:
        assert f"{group}:" in text
    assert "(default: 1000)" in text and "(default: block_5_add)" in text
    assert "{auto,ham10000,isic,derm12345,folders}" in text  # --format's choices, once in Config
