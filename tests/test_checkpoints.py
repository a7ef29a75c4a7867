"""Saved network states: atomic writes, release of what will not be continued."""

import numpy as np

from hpsearch.models.checkpoints import Checkpoints, load_state, save_state, trial_name


def test_save_and_load_round_trip_leave_no_temporary_file(tmp_path):
    path = str(tmp_path / "a.state")
    save_state({"w": np.arange(3.0), "n": np.array(2)}, path)
    state = load_state(path)
    assert state["w"].tolist() == [0.0, 1.0, 2.0] and int(state["n"]) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["a.state"]


def test_release_deletes_only_asked_and_unneeded_states(tmp_path):
    states = Checkpoints(tmp_path)
    paths = {t: states.path("optuna:QMCSampler", 0, t) for t in range(4)}
    other = states.path("random", 0, 1)
    for p in [*paths.values(), other]:
        save_state({"x": np.zeros(1)}, p)
    torn = states.folder / f"{trial_name('optuna:QMCSampler', 0, 9)}.state.tmp.npz"
    torn.write_bytes(b"half")
    states.release("optuna:QMCSampler", 0, asked={0, 1, 2}, needed={1})
    left = sorted(p.name for p in states.folder.iterdir())
    assert left == sorted([f"{trial_name('optuna:QMCSampler', 0, t)}.state" for t in (1, 3)]
                          + [f"{trial_name('random', 0, 1)}.state"])
    assert states.path("x", 0, None) is None
