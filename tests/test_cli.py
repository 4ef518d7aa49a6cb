"""The command lines: ``python -m trainer train``'s flags are Config's fields, declared once in
trainer/config.py; a user's mistake in any command is one line, ``error: …``, with exit code 2."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

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
    assert "{auto,ham10000,isic,derm12345,folders,pad-ufes-20}" in text  # --format's choices, once in Config


def test_predict_says_each_unreadable_file_once_per_line(tmp_path, monkeypatch, capsys):
    """`trainer predict`'s error lines: the path, then trainer.images' reason, without its name again."""
    from trainer import predict
    from trainer.images import load_rgb

    class Unreadable:
        layout = None

        def __init__(self, model_dir):
            pass

        def predict_files(self, paths, answers=None):
            results = []
            for path in paths:
                try:
                    load_rgb(path)
                except Exception as error:  # noqa: BLE001 - every file here is unreadable
                    results.append((path, None, str(error)))
            return results

    monkeypatch.setattr(predict, "Predictor", Unreadable)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("not an image")
    assert predict.main("model", [str(tmp_path / "empty.jpg"), str(tmp_path / "notes.jpg"),
                                  str(tmp_path / "gone.jpg")]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"{tmp_path / 'empty.jpg'}: ERROR the file is empty"
    assert lines[1].startswith(f"{tmp_path / 'notes.jpg'}: ERROR not an image SkinLens can read")
    assert lines[2].startswith(f"{tmp_path / 'gone.jpg'}: ERROR cannot read the file")
    assert all(line.count(".jpg") == 1 for line in lines[:3]), lines


# A user's mistake: one line, exit code 2, no traceback (issue 22). In-process for each mistake; as a
# subprocess once per command line, to see what a person sees (TensorFlow's start-up lines included).
ROOT = Path(__file__).resolve().parents[1]


def _folders(root, names):
    from PIL import Image

    for name in names:
        (root / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40, 40), (i * 90, 60, 90)).save(root / name / f"{name}{i}.jpg")
    return root


def _one_line(capsys, main, argv, expected):
    """Runs ``main(argv)``: exit code 2 and the one line ``error: …`` matching ``expected``, nothing else."""
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0], err


def _unfinished_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    Config(data=("d",)).save(run / "config.json")
    return run


@pytest.mark.parametrize("mistake", ["missing folder", "no dataset format", "unknown format",
                                     "class folders need --malignant", "run folder made otherwise", "folds 2",
                                     "distil without one view", "questions without clinical",
                                     "questions nobody was asked"])
def test_train_says_a_mistake_in_one_line(tmp_path, capsys, mistake):
    from trainer.cli import main

    data = _folders(tmp_path / "data", ["cats", "dogs"])
    (tmp_path / "empty").mkdir()
    other = tmp_path / "other"
    other.mkdir()
    Config(data=(str(data),), seed=1).save(other / "config.json")
    argv, expected = {
        "missing folder": (["--data", str(tmp_path / "nope")], "nope: no such folder"),
        "no dataset format": (["--data", str(tmp_path / "empty")], "cannot tell the dataset format; pass --format"),
        "unknown format": (["--data", str(data), "--format", "xyz"], "argument --format: invalid choice: 'xyz'"),
        "class folders need --malignant": (["--data", str(data)], "say which are malignant with --malignant"),
        "run folder made otherwise": (["--data", str(data), "--malignant", "cats", "--out", str(other)],
                                      "was made with another configuration"),
        "folds 2": (["--data", str(data), "--folds", "2"], "--folds needs K >= 3"),
        "distil without one view": (["--data", str(data), "--fine-tune-epochs", "2", "--distil-epochs", "2"],
                                    "it needs --tta-views 1"),
        "questions without clinical": (["--data", str(data), "--questions"], "--questions adds to the clinical input"),
        "questions nobody was asked": (["--data", str(data), "--malignant", "cats", "--clinical", "--questions"],
                                       "--questions: the data has no yes or no answer for grown (yes 0, no 0), "),
    }[mistake]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "run")]
    _one_line(capsys, main, ["train", *argv], expected)


@pytest.mark.parametrize("mistake", ["missing", "not a run", "damaged config", "unfinished"])
def test_evaluate_and_the_converter_say_a_bad_run_folder_in_one_line(tmp_path, capsys, mistake):
    from converter.__main__ import main as converter_main
    from trainer.cli import main

    run = tmp_path / "run"
    if mistake in ("not a run", "damaged config"):
        run.mkdir()
    if mistake == "damaged config":
        (run / "config.json").write_text('{"image_size": ')  # cut off in mid-write
    if mistake == "unfinished":
        run = _unfinished_run(tmp_path)
    expected = {"missing": "run: no such run folder", "not a run": "is not a run folder (it has no config.json",
                "damaged config": "config.json is not a usable config.json (JSONDecodeError",
                "unfinished": "has no"}[mistake]
    _one_line(capsys, main, ["evaluate", str(run)], expected)
    _one_line(capsys, converter_main, [str(run), "--out", str(tmp_path / "model")], expected)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("questions", [False, True])
def test_predict_passes_the_questions_to_a_model_that_takes_them_and_says_when_one_does_not(monkeypatch, capsys,
                                                                                             questions):
    from trainer import clinical, predict
    from trainer.cli import main

    given = []

    class Model:
        layout = clinical.layout(questions)
        class_ids = ["a", "b"]

        def __init__(self, model_dir):
            pass

        def predict_files(self, paths, answers=None):
            given.append(answers)
            return []

    monkeypatch.setattr(predict, "Predictor", Model)
    assert main(["predict", "model", "x.jpg", "--age", "50", "--grown", "yes", "--hurts", "no"]) == 0
    err = capsys.readouterr().err
    if questions:
        assert given == [{"age": "50", "grown": "yes", "hurts": "no"}] and err == ""
    else:
        assert given == [{"age": "50"}]
        assert err == "model: this model was trained without the questions; grown, hurts ignored\n"
    _one_line(capsys, main, ["predict", "model", "x.jpg", "--bled", "maybe"], "argument --bled: invalid choice")


def test_predict_says_a_folder_that_is_no_model_in_one_line(tmp_path, capsys):
    from trainer.cli import main

    _one_line(capsys, main, ["predict", str(tmp_path), "x.jpg"], "neither a web model folder")


def test_rebuild_says_a_run_without_its_weights(tmp_path):
    """``rebuild`` (the benchmarks' way in) needs model.weights.h5, or a readable stage2_best.weights.h5."""
    from trainer.errors import RunError
    from trainer.export import rebuild

    run = _unfinished_run(tmp_path)
    (run / "calibration.json").write_text("{}")
    (run / "stage2_best.weights.h5").write_bytes(b"cut off")
    with pytest.raises(RunError, match="has no model.weights.h5"):
        rebuild(run, views=1)


@pytest.mark.parametrize("command", [["trainer", "train", "--data", "{tmp}/nope", "--out", "{tmp}/run"],
                                     ["converter", "{tmp}/nope"]])
def test_each_command_line_answers_a_mistake_in_one_line_without_a_traceback(tmp_path, command):
    """What a person sees: one line on stderr, exit code 2, no traceback and no TensorFlow start-up lines;
    with --debug, the traceback."""
    argv = [sys.executable, "-m", *[word.format(tmp=tmp_path) for word in command]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"error: {tmp_path}/nope: no such "
                                          + ("folder" if command[0] == "trainer" else "run folder")]
    assert result.stdout == ""
    if command[0] == "trainer":
        debug = subprocess.run([*argv, "--debug"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert debug.returncode == 1 and "Traceback" in debug.stderr and "DatasetError" in debug.stderr
