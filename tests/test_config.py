import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

from hpsearch.cli import main
from hpsearch.config import Suite, load, parse, parse_any
from hpsearch.errors import ConfigError

GOOD = """
name = "t"
n_jobs = 1
[budget]
trials = 4
[space.epochs]
type = "int"
low = 2
high = 5
[space.learning_rate]
type = "float"
low = 0.01
high = 0.5
log = true
"""


def test_shipped_experiments_are_valid(experiments):
    for path in sorted(experiments.glob("*.toml")):
        try:
            loaded = load(path, suites=True)
        except ConfigError as exc:  # a replay of tables recorded on the user's machine (not committed)
            assert "not a recorded table" in str(exc) and "record one with `hpsearch table record" in str(exc)
            continue
        for exp in [e for _, e in loaded.problems] if isinstance(loaded, Suite) else [loaded]:
            assert exp.space and exp.strategies
            assert parse(exp.to_dict(), str(path)) == exp  # the resolved config reads back the same
    suite = load(experiments / "suite.toml", suites=True)
    assert len(suite.problems) >= 4 and all(e.repetitions >= 20 and e.budget.kind == "epochs"
                                            for _, e in suite.problems)
    again = parse_any(tomllib.loads(suite.to_toml()), "again.toml")
    assert [(n, e.to_dict()) for n, e in again.problems] == [(n, e.to_dict()) for n, e in suite.problems]


@pytest.mark.parametrize("text, key, match", [
    ("epochz = 3\n" + GOOD, "epochz", "unknown key; allowed: name, description, seed"),
    (GOOD + "\ngrdi = 3\n", "space.learning_rate.grdi", "did you mean 'grid'"),
    (GOOD.replace('name = "t"', 'name = "t"\nseeed = 1'), "seeed", "did you mean 'seed'"),
    (GOOD.replace("trials = 4", 'trials = "four"'), "budget.trials", "expected an integer"),
    (GOOD.replace("trials = 4", "trials = 0"), "budget.trials", "must be >= 1"),
    (GOOD.replace("low = 2\nhigh = 5", "low = 9\nhigh = 5"), "space.epochs", r"low \(9\) must be <= high \(5\)"),
    (GOOD.replace("low = 0.01", "low = 0.0"), "space.learning_rate.low", "log-scale range must start above 0"),
    (GOOD.replace("n_jobs = 1", "n_jobs = 0"), "n_jobs", "must be 1 to 1024, or -1"),
    (GOOD.replace('name = "t"', 'name = "t"\nstrategies = ["randm"]'), "strategies", "did you mean 'random'"),
    (GOOD.replace('type = "int"', 'type = "integer"'), "space.epochs.type", "expected one of"),
    (GOOD + '\n[data]\nfeatures = "all"\n', "data.features", "expected one of 'challenge', 'extended'"),
    (GOOD + '\n[data]\nfractions = [0.5, 0.5]\n', "data.fractions", "sum to 1"),
    (GOOD + '\n[model]\nactivation = "softmax"\n', "model.activation", "activation must be one of"),
    (GOOD + '\n[model]\nepochs = 3\n', "model.epochs", "also searched"),
    (GOOD.replace("trials = 4", "trials = 4\nepochs = 100"), "budget", "exactly one of"),
    (GOOD.replace('low = 2\nhigh = 5', 'low = 0\nhigh = 5'), "space.epochs", "epochs must be an integer >= 1"),
])
def test_bad_configs_name_the_key(tmp_path, text, key, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load(path)
    assert f"{path}: {key}" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content, match", [
    ("", "empty"),
    ("name = [", "not valid TOML"),
    ("\x00\x01\x02", "not valid TOML|not a text file"),
])
def test_empty_or_malformed_files(tmp_path, content, match):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=match):
        load(path)


@pytest.mark.parametrize("args, match", [
    (["--trials", "0"], "--trials"),
    (["--n-jobs", "0"], "--n-jobs"),
    (["--seed", "-1"], "--seed"),
    (["--strategies", "random,nope"], "unknown strategy 'nope'"),
])
def test_cli_refuses_bad_input_and_writes_nothing(tmp_path, capsys, small_catalog, args, match):
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    out = tmp_path / "run"
    assert run_cli(["run", str(path), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert re.search(match, err) and err.count("\n") == 1
    assert "Traceback" not in err
    assert not out.exists()


def test_bad_config_file_through_the_cli(tmp_path, capsys, small_catalog):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("low = 2\nhigh = 5", "low = 9\nhigh = 5"))
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hpsearch: error: {path}: space.epochs") and err.count("\n") == 1
    assert not (tmp_path / "run").exists() and not Path("results").exists()


def run_cli(argv: list[str]) -> int:
    """main() returns a status; argparse exits: either way, the status."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


# -- hostile values ------------------------------------------------------------------
@pytest.mark.parametrize("raw, match", [
    ({"name": "../../x"}, "name: expected a name of 1 to 100"),
    ({"name": "/abs/path"}, "name: expected a name"),
    ({"name": "x" * 300}, "name: expected a name"),
    ({"n_jobs": 1000000}, "n_jobs: must be 1 to 1024"),
    ({"repetitions": 1000000000}, "repetitions: at most 1000"),
    ({"budget": {"trials": 100000000}}, "budget.trials: must be > 0 and at most 1,000,000"),
    ({"backend": "dask", "scheduler": "http://host:8786"}, "scheduler: expected tcp://HOST:PORT"),
    ({"backend": "dask", "scheduler": "tcp://host"}, "scheduler: expected tcp://HOST:PORT"),
    ({"model": {"shuffle": "no"}}, "model.shuffle: shuffle must be true or false"),
    ({"model": {"init_scale": True}}, "model.init_scale: init_scale must be a finite number > 0"),
    ({"model": {"dtype": "int8"}}, "model.dtype: dtype must be 'float64' or 'float32'"),
    ({"model": {"dtype": [1]}}, "model.dtype: dtype must be"),
    ({"population": 0}, "population: must be >= 1, got 0"),
    ({"population": "many"}, "population: expected an integer"),
    ({"population": 2.5}, "population: expected an integer"),
    pytest.param({"strategies": ["optuna:CmaEsSampler"]}, "strategies: 'optuna:CmaEsSampler' needs the package 'cmaes'",
                 marks=pytest.mark.skipif(importlib.util.find_spec("cmaes") is not None, reason="cmaes is installed")),
    ({"strategies": ["optuna:GridSampler"]}, "missing 1 required positional argument: 'search_space'"),
    ({"strategies": ["tpe"], "strategy": {"tpe": {"n_startup_trials": "x"}}},
     "strategy.tpe: the sampler of 'tpe' fails with these options"),
])
def test_hostile_values_are_one_clear_error(raw, match):
    with pytest.raises(ConfigError, match=match):
        parse(raw, "t.toml")


def test_a_dict_config_gets_a_plain_default_name():
    assert parse({}, "<dict>").name == "experiment"


# -- the schema and the resolved config ----------------------------------------------
def test_every_shipped_experiment_validates_against_the_json_schema(experiments, capsys):
    jsonschema = pytest.importorskip("jsonschema")
    import json

    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)  # what the command prints, as an editor reads it
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(experiments.glob("*.toml")):
        assert not list(validator.iter_errors(tomllib.loads(path.read_text()))), path
    good = tomllib.loads(GOOD)
    assert not list(validator.iter_errors(good))
    for bad in ({**good, "epochz": 3}, {**good, "budget": {"trials": 0}}, {**good, "n_jobs": "2"},
                {**good, "space": {"epochs": {"type": "integer", "low": 1, "high": 2}}},
                {**good, "strategies": ["hyperband"], "strategy": {"hyperband": {"eta": 1}}},
                {**good, "strategy": {"grid": {"pointz": 3}}}, {**good, "output": {"figures": ["gif"]}},
                {**good, "problems": {"p": {"seed": 1}}}):
        assert list(validator.iter_errors(bad)), bad
    # open sections say so: an Optuna sampler's arguments, an estimator's parameters, the names of the space
    for fine in ({**good, "strategies": ["tpe"], "strategy": {"tpe": {"n_startup_trials": 3}}},
                 {**good, "model": {"estimator": "sklearn.linear_model.Ridge", "alpha": 2.0}}):
        assert not list(validator.iter_errors(fine)), fine


def test_config_show_prints_what_run_writes_to_its_folder(tmp_path, capsys, small_catalog):
    path = tmp_path / "good.toml"
    path.write_text(GOOD.replace("trials = 4", "trials = 2"))
    assert main(["config", "show", str(path)]) == 0
    shown = capsys.readouterr().out
    resolved = tomllib.loads(shown)
    assert resolved["verdict"]["rope"] == 0.01 and resolved["output"] == {"figures": ["png"]}
    assert resolved["verdict"]["alpha"] == 0.05 and resolved["verdict"]["reference"] == "random"
    assert resolved["model"]["batch_size"] == 256 and resolved["budget"] == {"trials": 2}
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "--quiet", "--figures", "none"]) == 0
    written = (tmp_path / "run" / "config.toml").read_text()
    assert written == shown.replace('figures = [\n    "png",\n]', 'figures = "none"')
    again = tmp_path / "again.toml"
    again.write_text(GOOD.replace("trials = 4", "trials = 2") + "\n[output]\nfigures = \"none\"\n")
    capsys.readouterr()
    assert main(["config", "show", str(again)]) == 0
    assert capsys.readouterr().out == written


def test_config_show_fills_in_each_strategys_defaults(tmp_path, capsys):
    path = tmp_path / "mf.toml"
    path.write_text('strategies = ["hyperband", "pbt"]\n' + GOOD + '\n[strategy.hyperband]\neta = 2\n')
    assert main(["config", "show", str(path)]) == 0
    shown = tomllib.loads(capsys.readouterr().out)
    assert shown["strategy"]["hyperband"] == {"eta": 2}  # the rungs follow the space: nothing more to fill
    assert shown["strategy"]["pbt"] == {"population_size": 8, "quantile": 0.25, "resample_probability": 0.25}
    assert parse(shown, "again.toml").strategy_options == load(path).strategy_options


def test_a_run_folder_written_before_the_defaults_were_written_out_still_resumes(tmp_path, small_catalog):
    path = tmp_path / "good.toml"
    path.write_text(GOOD.replace("trials = 4", "trials = 2"))
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--figures", "none"]) == 0
    written = tomllib.loads((out / "config.toml").read_text())
    for key in ("verdict", "output"):  # as an earlier version wrote it: no [verdict], no [output], no threads
        written.pop(key)
    written["model"].pop("threads")
    import tomli_w

    (out / "config.toml").write_text(tomli_w.dumps(written))
    assert main(["run", str(path), "--out", str(out), "--quiet", "--figures", "none"]) == 0  # resumed, not refused
    changed = tmp_path / "changed.toml"
    changed.write_text(GOOD.replace("trials = 4", "trials = 2").replace("low = 2", "low = 3"))
    assert main(["run", str(changed), "--out", str(out), "--quiet", "--figures", "none"]) == 2  # a change still is
