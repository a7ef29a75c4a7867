"""Errors a user can cause are HpsearchErrors: one line and exit status 2 in the CLI."""


from hpsearch.cli import main


def test_the_cli_turns_a_user_error_into_one_line_and_2(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text("seed = -1\n")
    assert main(["run", str(tmp_path / "bad.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.toml: seed" in err
