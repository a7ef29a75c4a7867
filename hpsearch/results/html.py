"""The HTML report of a run: one self-contained page (figures embedded, no external URL)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from hpsearch.data.metrics import metric_of
from hpsearch.execution.runfolder import RunFolder
from hpsearch.files import refuse_link
from hpsearch.results.export import caption_for, paper_columns, rounded

FIGURES = ("curve_trials", "curve_epochs", "curve_seconds", "ecdf", "hyperparameters", "sequential")


def html_report(run_dir: Path, exp) -> str:
    """One self-contained HTML page of a run: the verdict table, figures (embedded),
    the summary per repetition, the config and the cleaning report. No external URL.
    ``exp``: the run's config (:func:`hpsearch.config.read_run_config` reads it)."""
    folder = RunFolder(run_dir)
    folder.require_run()
    run_dir = folder.path
    esc = html.escape
    parts = [f"<h1>{esc(exp.name)}</h1>"]
    parts.append(f"<p class=lead>{esc(subtitle(exp, len(folder.records())))}</p>")
    parts.append(f"<p class=caption>hpsearch run folder {esc(str(run_dir))}</p>")
    comparison_csv = run_dir / "comparison.csv"
    summary_csv = run_dir / "summary.csv"
    repetitions = 0
    if summary_csv.is_file():
        with folder.reading("summary.csv"):
            repetitions = int(folder.table("summary")["repetition"].nunique())
    if comparison_csv.is_file():
        table = folder.table("comparison")
        target = exp.data.target_name
        with folder.reading("comparison.csv"):
            parts += ["<h2>Strategies compared</h2>", _html_table(paper_columns(table)),
                      f"<p class=caption>{esc(caption_for(table, target, paper=True))}</p>"]
            if len(table) > 1:
                parts.append(f"<p><b>Verdict.</b> {esc(_verdict(table))}</p>")
    metric = folder.metric()
    fidelity = exp.space_fidelity_name()
    for name in FIGURES:
        png = run_dir / f"{name}.png"
        if png.is_file():
            refuse_link(png)
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            caption = figure_caption(name, metric.label, repetitions, fidelity)
            parts.append(f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
    if summary_csv.is_file():
        parts += ["<h2>Per repetition</h2>", _html_table(rounded(folder.table("summary")))]
    if folder.has(folder.RUN):
        cleaning = folder.json(folder.RUN).get("cleaning", [])
        parts += ["<h2>Data</h2>", "<ul>" + "".join(f"<li>{esc(str(line))}</li>"
                                                     for line in (cleaning if isinstance(cleaning, list) else [])) + "</ul>"]
    parts += ["<h2>Config</h2>", f"<pre>{esc(folder.config_text())}</pre>"]
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
             ".wide{overflow-x:auto;max-width:100%}"
             "table{border-collapse:collapse;font-size:90%}td,th{padding:.2em .6em;border-bottom:1px solid #ccc}"
             "th{border-bottom:2px solid #444}figure{display:block;margin:1.5em 0;width:100%}"
             "img{width:100%;max-width:52em;height:auto;display:block}figcaption{font-size:90%;color:#444}"
             ".caption{font-size:85%;color:#555}.lead{font-size:110%}"
             "pre{background:#f4f4f4;padding:1em;overflow-x:auto;white-space:pre-wrap}")
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{esc(exp.name)}: hpsearch report"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def subtitle(exp, trials: int) -> str:
    """What the run did, from its own config (as run, overrides included) and store: never the
    config's description, which a ``--repetitions`` or ``--strategies`` on the command line outdates."""
    names = list(exp.strategies)
    reps, budget = exp.repetitions, exp.budget
    data = exp.data
    where = (f"the earthquake catalog ({data.features} features)" if data.dataset == "earthquake"
             else f"the table {Path(str(data.path)).name}" if data.dataset == "table" else f"the {data.dataset} problem")
    if exp.replays:
        where = f"the recorded table {Path(str(exp.table['path'])).name} (a replay)"
    return (f"{len(names)} strateg{'y' if len(names) == 1 else 'ies'} ({', '.join(names)}), {reps} "
            f"repetition{'' if reps == 1 else 's'}, a budget of {budget.amount:g} {budget.kind} each, on {where}: "
            f"{trials} trial{'' if trials == 1 else 's'} stored.")


def figure_caption(name: str, metric: str, repetitions: int, fidelity: str = "epochs") -> str:
    """What a run's figure shows, in words."""
    over = f"mean over {repetitions} repetition{'s' if repetitions != 1 else ''}"
    band = ", 95% bootstrap band" if repetitions > 1 else ""
    against = {"curve_trials": "trials", "curve_seconds": "training seconds (one worker)",
               "curve_epochs": f"{fidelity} trained"}
    if name in against:
        return (f"Best validation {metric} so far against {against[name]}, relative to the predict-the-mean "
                f"baseline of the same split (1 is no better), {over}{band}.")
    if name == "sequential":
        return ("Repetitions until decided: each comparison's anytime-valid interval for the relative difference "
                "to the reference strategy, against the repetitions; grey: the region of practical equivalence; "
                "dashed: the repetition it was decided at (sequential.md says how).")
    if name == "ecdf":
        return (f"Data profile: the share of (repetition, target) pairs reached against {fidelity} trained, "
                f"targets at 50-99% of the achievable gain over the baseline, all repetitions.")
    return (f"Validation {metric} relative to the baseline against each searched hyperparameter, every trial of "
            f"every strategy.")


def _html_table(table: pd.DataFrame) -> str:
    """A table in a box of its own that scrolls sideways when it is wider than the page."""
    return '<div class=wide>' + rounded(table).to_html(index=False, escape=True, border=0, na_rep="") + "</div>"


def _verdict(table: pd.DataFrame) -> str:
    """What the comparison can and cannot say, in words."""
    m = metric_of(table.columns)
    best = table.sort_values(f"{m.best_val}_mean").iloc[0]
    reps = int(table["repetitions"].max())
    words = (f"lowest mean best validation {m.label}: {best['strategy']} "
             f"({best[f'{m.best_val}_mean']:.4f}, skill {best['skill']:+.2%} on test). ")
    said = table[table["verdict"].isin(["better", "worse", "equivalent"])] if "verdict" in table else table.iloc[:0]
    if len(said):
        words += "Against random search (best validation, Holm over the strategies): " + "; ".join(
            f"{r.strategy} {r.verdict} ({r.rel_diff_pct:+.2f}%, interval {r.rel_diff_pct_ci_low:+.2f}% to "
            f"{r.rel_diff_pct_ci_high:+.2f}%, p = {r.p_holm_vs_random:.2g})" for r in said.itertuples()) + "."
    else:
        words += (f"No strategy is told from random search over {reps} paired repetitions "
                  f"(the smallest possible p-value is {2 / 2 ** reps:.3g}).")
    return words
