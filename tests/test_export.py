"""Export formats, parsed back: what a reader gets is what the table holds."""

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpsearch.errors import RunError
from hpsearch.execution.runfolder import RunFolder
from hpsearch.results.export import caption_for, render, side_by_side

TABLE = pd.DataFrame({"strategy": ["random", "tpe_x"], "repetitions": [3, 3],
                      "best_val_rmse_mean": [0.412345, 0.40001], "skill": [0.0123, np.nan],
                      "p_value_vs_random": [np.nan, 0.03125]})


def test_csv_round_trips_at_full_precision():
    back = pd.read_csv(io.StringIO(render(TABLE, "csv")))
    pd.testing.assert_frame_equal(back, TABLE)


def test_json_records_with_null_for_missing():
    records = json.loads(render(TABLE, "json"))
    assert records[0]["best_val_rmse_mean"] == 0.412345 and records[0]["p_value_vs_random"] is None
    assert [r["strategy"] for r in records] == ["random", "tpe_x"]


def test_markdown_rows_parse_back_rounded():
    lines = [line for line in render(TABLE, "md", "A caption.").splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == list(TABLE.columns)
    assert cells[2] == ["random", "3", "0.4123", "+1.23%", ""]
    assert cells[3] == ["tpe_x", "3", "0.4000", "", "0.0312"]


def test_latex_has_booktabs_rules_escaped_names_and_every_row():
    text = render(TABLE, "latex", "Caption.")
    body = text[text.index("\\midrule") + len("\\midrule"):text.index("\\bottomrule")]
    rows = [r.strip().rstrip("\\\\").strip() for r in body.strip().splitlines()]
    assert [r.split(" & ")[0] for r in rows] == ["random", "tpe\\_x"]
    assert "\\toprule" in text and "\\caption{Caption.}" in text
    assert rows[0].split(" & ")[2] == "0.4123"


def test_unknown_format_and_missing_tables_are_clean_errors(tmp_path):
    with pytest.raises(RunError, match="unknown format 'xls'"):
        render(TABLE, "xls")
    with pytest.raises(RunError, match="no such run folder"):
        RunFolder(tmp_path / "nope").table("summary")
    (tmp_path / "run").mkdir()
    with pytest.raises(RunError, match="summary.csv: not found"):
        RunFolder(tmp_path / "run").table("summary")


def test_side_by_side_and_caption(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        TABLE.to_csv(tmp_path / name / "comparison.csv", index=False)
    table = side_by_side([tmp_path / "a", tmp_path / "b"])
    assert table["run"].tolist() == ["a", "a", "b", "b"] and (table["features"] == "?").all()
    assert "smallest possible p is 0.25" in caption_for(TABLE)


def test_the_papers_latex_table_has_at_most_8_columns_and_compiles(tmp_path):
    from conftest import compile_latex
    from test_comparison import hand_made

    from hpsearch.results import comparison
    from hpsearch.results.export import paper_columns, paper_table, write_all_formats

    trials, summary = hand_made()
    table = comparison.comparison_table(trials, summary, ["random", "tpe"])
    assert len(table.columns) > 20
    write_all_formats(table, tmp_path / "comparison", caption_for(table), paper_table(table, caption_for(table, paper=True)))
    tex = (tmp_path / "comparison.tex").read_text()
    spec = tex[tex.index("\\begin{tabular}{") + len("\\begin{tabular}{"):].split("}", 1)[0]
    assert spec == "lrrrrrr" and len(paper_columns(table).columns) == 7
    assert "booktabs" in tex and "\\toprule" in tex and "\\label{tab:comparison}" in tex and "\\caption{" in tex
    head = tex[tex.index("\\toprule") + len("\\toprule"):tex.index("\\midrule")].strip().splitlines()
    assert [c.strip() for c in head[1].rstrip("\\ ").split(" & ")] == ["Strategy", "RMSE", "RMSE", "Skill", "Epochs",
                                                                        "rank", "random"]
    body = tex[tex.index("\\midrule") + len("\\midrule"):tex.index("\\bottomrule")].strip().splitlines()
    rows = [[c.strip() for c in row.rstrip("\\ ").split(" & ")] for row in body if row != "\\midrule"]
    assert [row[0] for row in rows] == ["random", "tpe", "training mean", "linear model"]
    assert rows[0][1:3] == ["0.5050", "0.5150"]  # (0.44 + 0.57) / 2; test loss (0.45 + 0.58) / 2
    assert rows[2][2:4] == ["0.6000", "+0.00\\%"]  # the baseline, under the strategies
    compile_latex(tmp_path / "comparison.tex")


def test_every_committed_latex_table_fits_an_articles_page(tmp_path):
    """The reference tables as a paper would include them: each compiles in an article with booktabs
    (T1, utf8) and no line is more than 5 pt wider than the text."""
    import shutil

    from conftest import compile_latex

    committed = sorted((Path(__file__).parents[1] / "results" / "reference").rglob("*.tex"))
    assert len(committed) >= 10
    for number, tex in enumerate(committed):
        copy = tmp_path / f"t{number}.tex"
        shutil.copyfile(tex, copy)
        compile_latex(copy)


def test_latex_cannot_be_injected_and_compiles(tmp_path):
    from conftest import compile_latex

    from hpsearch.results.export import render

    hostile = "\\input{/etc/passwd} price $\\foo$ 95% a_b #1 & {x} ~^ \\\\"
    table = pd.DataFrame({hostile: [hostile, "0.1 ± 0.2"], "val_rmse": [0.5, np.nan]})
    tex = render(table, "latex", caption=hostile, label=f"tab:{hostile}")
    assert "\\input{" not in tex and "$\\foo$" not in tex and " 95% " not in tex
    (tmp_path / "t.tex").write_text(tex)
    compile_latex(tmp_path / "t.tex", fits=False)  # a cell of 50 characters: wide, and it compiles
    assert "root:" not in (tmp_path / "doc-t.log").read_text(errors="replace")


@pytest.mark.slow
def test_the_html_report_is_self_contained_and_renders(small_catalog, tmp_path):
    import re
    import shutil
    import subprocess

    from conftest import experiment

    from hpsearch.cli import main
    from hpsearch.runner import run_experiment

    run_experiment(experiment(strategies=["random", "tpe"], repetitions=2, budget={"trials": 4}, output={"figures": "png"}),
                   tmp_path / "r",
                   progress=False)
    page = (tmp_path / "r" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Verdict." in page
    assert page.count('src="data:image/png;base64,') == 5 and not re.search(r'(src|href)="(https?:)?//', page)
    assert "rows kept" in page and "[budget]" in page
    assert main(["report", str(tmp_path / "r"), "--output", str(tmp_path / "copy.html")]) == 0
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no headless Chromium here (Debian package chromium)")
    shot = tmp_path / "shot.png"
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                           f"--screenshot={shot}", "--window-size=1000,2000", (tmp_path / "copy.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    from PIL import Image

    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10, done.stderr[-500:]  # text and figures, not a blank page


def test_names_outside_ascii_compile(tmp_path):
    """A target or a category named with a check mark, an accent or a Greek letter: the table compiles."""
    from conftest import compile_latex

    from hpsearch.results.export import render

    table = pd.DataFrame({"strategy": ["✓ random", "café", "Ω-search"], "val_rmse": [0.5, 0.4, 0.3]})
    (tmp_path / "u.tex").write_text(render(table, "latex", caption="magnitude ✓ ≥ 5 — Ω"), encoding="utf-8")
    compile_latex(tmp_path / "u.tex")
