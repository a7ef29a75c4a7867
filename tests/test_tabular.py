"""Tabular benchmarks: a recorded table holds every curve, a replay answers as training would,
and a replayed run is the same for any n_jobs and on every rerun."""

import json

import numpy as np
import pandas as pd
import pytest

from hpsearch.cli import main
from hpsearch.config import load
from hpsearch.errors import ConfigError
from hpsearch.execution.table import Table

RECORD = """
name = "f1"
seed = 3
n_jobs = 2
[data]
dataset = "friedman1"
n_samples = 300
[model]
batch_size = 32
[space.epochs]
type = "int"
low = 3
high = 12
log = true
[space.hidden_width]
type = "int"
low = 4
high = 16
log = true
[space.learning_rate]
type = "float"
low = 0.01
high = 0.5
log = true
[table]
levels = {hidden_width = 3, learning_rate = 4}
seeds = 3
"""
STRATEGIES = '["random", "asha", "tpe-hyperband", "median-stop", "hyperband", "grid", "tpe", "bohb"]'


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table")
    (folder / "rec.toml").write_text(RECORD)
    assert main(["table", "record", str(folder / "rec.toml"), "--out", str(folder / "t"), "--quiet"]) == 0
    return folder / "t"


def replay_config(folder, table, workers=2, repetitions=4, extra=""):
    path = folder / "replay.toml"
    path.write_text(f'name = "r"\nseed = 3\nstrategies = {STRATEGIES}\nrepetitions = {repetitions}\n'
                    f'[budget]\nepochs = 120\n[table]\npath = "{table}"\nworkers = {workers}\n{extra}')
    return path


def test_a_table_holds_one_curve_per_point_and_seed_to_the_bound(table):
    t = Table.load(table)
    assert t.val.shape == t.test.shape == t.seconds.shape == (12, 3, 12)  # 3 x 4 points, 3 seeds, epochs 1..12
    assert np.isfinite(t.val).all() and np.isfinite(t.test).all() and (t.seconds > 0).all()
    header = json.loads((table / "table.json").read_text())
    assert header["levels"]["hidden_width"] == [4, 8, 16] and len(header["baselines"]) == 3
    assert header["fidelity"] == "epochs" and header["bound"] == 12 and "NumPy SIMD" in header["machine"]
    assert header["hpsearch"] and header["config"]["data"]["dataset"] == "friedman1"


def test_a_replayed_trial_equals_the_live_trial_of_its_point_seed_and_split(table):
    from hpsearch.data.prepared import prepare_problem
    from hpsearch.execution.objective import train_and_score
    from hpsearch.search.trial import TrialSpec

    t = Table.load(table)
    exp = load(table.parent / "rec.toml")
    p, s, epochs = 7, 2, 9
    point = t.header["points"][p]
    spec = TrialSpec("live", s, 0, 0, {**point, "epochs": epochs}, int(t.seed[p, s]), f"rep{s}",
                     {"batch_size": 32}, with_test=True)
    live = train_and_score(spec, prepare_problem(exp.data, exp.seed).dataset(s))
    assert live.val_loss == pytest.approx(t.val[p, s, epochs - 1], rel=1e-9)
    assert live.test_loss == pytest.approx(t.test[p, s, epochs - 1], rel=1e-9)
    assert t.snap({**point, "hidden_width": point["hidden_width"] + 1, "epochs": 5}) == p  # the nearest point


@pytest.mark.slow
def test_a_replay_is_the_same_for_any_n_jobs_and_on_a_rerun(table, tmp_path):
    config = replay_config(tmp_path, table)
    runs = []
    for name, n_jobs in (("a", "2"), ("b", "1"), ("c", "2")):
        assert main(["run", str(config), "--out", str(tmp_path / name), "--quiet", "--figures", "none",
                     "--n-jobs", n_jobs]) == 0
        runs.append((tmp_path / name / "trials.csv").read_bytes())
    assert runs[0] == runs[1] == runs[2]  # byte for byte: the times are simulated too
    trials = pd.read_csv(tmp_path / "a" / "trials.csv")
    assert set(trials["strategy"]) == set(json.loads(STRATEGIES)) and (trials["status"] == "stopped").any()
    assert trials["finished_at"].str.startswith("2000-01-01").all()
    t = Table.load(table)
    for row in trials[trials["strategy"] == "random"].itertuples():  # read from its snapped point and seed
        p = t.snap({"hidden_width": row.hidden_width, "learning_rate": row.learning_rate})
        assert row.val_rmse == t.val[p, row.repetition % 3, row.epochs - 1] and row.seed == t.seed[p, row.repetition % 3]


def test_simulated_workers_change_what_asynchronous_strategies_see(table, tmp_path):
    """More simulated workers: ASHA decides with fewer results in (a different run), as live."""
    out = {}
    for workers in (1, 4):
        config = replay_config(tmp_path, table, workers=workers, repetitions=1).read_text()
        config = config.replace(STRATEGIES, '["asha"]')
        (tmp_path / f"w{workers}.toml").write_text(config)
        assert main(["run", str(tmp_path / f"w{workers}.toml"), "--out", str(tmp_path / f"w{workers}"),
                     "--quiet", "--figures", "none"]) == 0
        out[workers] = pd.read_csv(tmp_path / f"w{workers}" / "trials.csv")
    assert not out[1][["epochs", "hidden_width"]].equals(out[4][["epochs", "hidden_width"]])


def test_a_replayed_problem_takes_data_model_and_space_from_its_table(table, tmp_path):
    config = replay_config(tmp_path, table, extra='[data]\ndataset = "diabetes"\n')
    with pytest.raises(ConfigError, match="data: a replayed problem's data is its table's"):
        load(config)
    with pytest.raises(ConfigError, match="not a recorded table"):
        load(replay_config(tmp_path, tmp_path / "nowhere"))
    exp = load(replay_config(tmp_path, table))
    assert exp.replays and exp.data.dataset == "friedman1" and {d.name for d in exp.space} == {
        "epochs", "hidden_width", "learning_rate"}


def test_pbt_is_not_replayed_from_a_table(table, tmp_path):
    """A table holds curves trained from scratch; PBT's members inherit weights: its replay would be another
    algorithm, so it is refused with one line."""
    config = replay_config(tmp_path, table).read_text().replace(STRATEGIES, '["random", "pbt"]')
    (tmp_path / "pbt.toml").write_text(config)
    with pytest.raises(ConfigError, match="strategies: pbt cannot be replayed from a table: a table holds curves "
                                          "trained from scratch") as refused:
        load(tmp_path / "pbt.toml")
    assert "\n" not in str(refused.value)


@pytest.mark.slow
def test_recording_resumes_where_it_stopped(table, tmp_path):
    """A recording is a run: stored curves are not trained again, and the table is the same."""
    import shutil

    shutil.copytree(table, tmp_path / "t")
    store = tmp_path / "t" / "record" / "trials.jsonl"
    lines = store.read_text().splitlines(keepends=True)
    store.write_text("".join(lines[: len(lines) // 2]))  # as if killed halfway
    for name in ("table.npz", "table.json", "record/trials.csv", "record/summary.csv"):
        (tmp_path / "t" / name).unlink(missing_ok=True)
    assert main(["table", "record", str(table.parent / "rec.toml"), "--out", str(tmp_path / "t"), "--quiet"]) == 0
    a, b = Table.load(table), Table.load(tmp_path / "t")
    np.testing.assert_allclose(a.val, b.val, rtol=1e-9)  # the retrained half: the same curves
    np.testing.assert_array_equal(a.seed, b.seed)
    assert len(store.read_text().splitlines()) == len(lines)


@pytest.mark.slow
def test_a_suite_of_tables_and_its_agreement_with_the_live_suite(table, tmp_path):
    from hpsearch.results.tabular import agreement_table

    live = ('strategies = ["random", "tpe", "hyperband"]\nrepetitions = 3\n[budget]\nepochs = 120\n'
            '[problems.f1]\n' + "\n".join(line for line in RECORD.splitlines()
                                           if line and not line.startswith(("name", "seed", "n_jobs", "levels",
                                                                             "seeds", "[table]"))))
    live = live.replace("[data]", "[problems.f1.data]").replace("[model]", "[problems.f1.model]")
    live = live.replace("[space.", "[problems.f1.space.").replace("[problems.f1]\n", "")
    (tmp_path / "live.toml").write_text('seed = 3\n' + live)
    (tmp_path / "replay.toml").write_text(f'seed = 3\nstrategies = ["random", "tpe", "hyperband"]\n'
                                          f'repetitions = 3\n[budget]\nepochs = 120\n'
                                          f'[problems.f1]\ntable = {{path = "{table}", workers = 1}}\n'
                                          f'[problems.f1-again]\ntable = {{path = "{table}", workers = 2}}\n')
    for name in ("live", "replay"):
        assert main(["run", str(tmp_path / f"{name}.toml"), "--out", str(tmp_path / name), "--quiet",
                     "--figures", "none", "--n-jobs", "1"]) == 0
    assert main(["run", str(tmp_path / "replay.toml"), "--out", str(tmp_path / "replay2"), "--quiet",
                 "--figures", "none", "--n-jobs", "2"]) == 0  # problems side by side in two processes
    assert (tmp_path / "replay" / "trials.csv").read_bytes() == (tmp_path / "replay2" / "trials.csv").read_bytes()
    agreement = agreement_table(tmp_path / "replay", tmp_path / "live")
    assert set(agreement["outcome"]) == {"test", "validation"} and (agreement["strategies"] == 3).all()
    assert agreement["spearman_mean_ranks"].between(-1, 1).all()
    assert main(["table", "check", str(tmp_path / "replay"), str(tmp_path / "live")]) == 0


def test_a_seconds_budget_counts_simulated_seconds(table, tmp_path):
    config = replay_config(tmp_path, table, repetitions=2).read_text()
    config = config.replace(STRATEGIES, '["random", "asha"]').replace("epochs = 120", "seconds = 0.02")
    (tmp_path / "s.toml").write_text(config)
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "s"), "--quiet", "--figures", "none"]) == 0
    trials = pd.read_csv(tmp_path / "s" / "trials.csv")
    spent = trials.groupby(["strategy", "repetition"])["seconds"].sum()
    recorded = Table.load(table).seconds
    assert (spent >= 0.02).all() and (spent <= 0.02 + recorded.max() * 12).all()  # the budget, and one trial past it
    stopped = trials[trials["status"] == "stopped"]  # a trial the budget cut says so (whether one straddles the
    assert stopped["message"].str.contains("seconds budget").all()  # budget's end depends on the recorded seconds)


def test_a_trial_the_table_cannot_answer_fails_alone(table):
    from hpsearch.execution.tabular import TableBackend
    from hpsearch.search.trial import TrialSpec

    backend = TableBackend(Table.load(table), workers=1)
    good = {"hidden_width": 8, "learning_rate": 0.1, "epochs": 5}
    backend.submit(None, [TrialSpec("s", 0, 0, 0, {**good, "epochs": 99}, 1, "rep0"),  # past the bound
                          TrialSpec("s", 0, 1, 1, good, 1, "rep0"), TrialSpec("s", 0, 2, 2, good, 1, "rep0")])
    results = [r for _ in range(3) for r in backend.next_completed()]
    assert [r.status for r in results] == ["failed", "ok", "ok"] and "outside the recorded" in results[0].message
    assert results[1].finished_at is None and results[2].started_at > results[1].started_at  # one worker: in turn
    assert backend.in_flight == 0


def test_levels_as_one_count_for_every_numeric_dimension_is_accepted():
    from hpsearch.config import parse

    exp = parse({"data": {"dataset": "diabetes"}, "table": {"levels": 3}})
    assert exp.table["levels"] == 3
    with pytest.raises(ConfigError, match=r"expected a count such as 8 .* or a table such as"):
        parse({"data": {"dataset": "diabetes"}, "table": {"levels": "three"}})


def test_a_replay_with_more_repetitions_than_seeds_says_it_analyses_the_seed_groups(table, tmp_path, capsys):
    config = replay_config(tmp_path, table, repetitions=4).read_text().replace(STRATEGIES, '["random", "grid"]')
    (tmp_path / "g.toml").write_text(config)
    assert main(["run", str(tmp_path / "g.toml"), "--out", str(tmp_path / "g"), "--figures", "none"]) == 0
    out = capsys.readouterr().out
    assert "note: r: 4 repetitions replay 3 recorded seeds: the analysis averages the repetitions of each seed" in out
    summary = pd.read_csv(tmp_path / "g" / "summary.csv")
    assert summary.groupby("repetition")["unit"].first().tolist() == [0, 1, 2, 0]


class TableCurves:
    """A live objective that trains nothing: the curve of the recorded point and seed (repetition
    r: seed r % S), as a live network with those seeds would train it (the test above)."""

    def __init__(self, table):
        self.table = table

    def __call__(self, spec, dataset):
        from hpsearch.search.trial import TrialResult

        t = self.table
        point, seed, end = t.snap(spec.params), spec.repetition % t.seeds, int(spec.params["epochs"])
        curve = [float(v) for v in t.val[point, seed, :end]]
        return TrialResult.from_spec(spec, val_loss=curve[-1], val_curve=curve, epochs_trained=end - spec.start_epoch,
                                     seconds=float(t.seconds[point, seed, spec.start_epoch:end].sum()))


@pytest.mark.parametrize("strategies", [["asha"], ["median-stop", "tpe-hyperband"]])
def test_replay_and_live_make_the_same_decisions_on_the_same_curves(table, tmp_path, strategies):
    """Where a live run's curves are the table's, the virtual clock gives the replay's trials:
    the same proposals, promotions, stops and virtual times (workers = 3, the epoch clock)."""
    from hpsearch.config import parse
    from hpsearch.runner import run_experiment

    options = {s: {"workers": 3} for s in strategies}
    replay = parse({"name": "r", "seed": 3, "strategies": strategies, "repetitions": 2, "budget": {"epochs": 90},
                    "table": {"path": str(table)}, "strategy": options, "output": {"figures": "none"}}, "<dict>")
    recorded = load(table.parent / "rec.toml").to_dict()
    live = parse({**{k: recorded[k] for k in ("data", "model", "space")}, "name": "l", "seed": 3, "n_jobs": 1,
                  "strategies": strategies, "repetitions": 2, "budget": {"epochs": 90}, "strategy": options,
                  "output": {"figures": "none"}}, "<dict>")
    a = run_experiment(replay, tmp_path / "replay", progress=False).trials
    b = run_experiment(live, tmp_path / "live", progress=False, objective=TableCurves(Table.load(table))).trials
    t = Table.load(table)
    columns = ["strategy", "repetition", "trial", "epochs", "start_epoch", "epochs_trained", "status", "val_rmse",
               "virtual_start", "virtual_end", *t.header["points"][0]]
    pd.testing.assert_frame_equal(a[columns], b[columns], check_dtype=False)
    assert (a["virtual_end"] - a["virtual_start"]).max() > 0
