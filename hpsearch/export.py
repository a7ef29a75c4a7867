"""Tables of a run folder in the formats papers and tools want."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from hpsearch import runfolder
from hpsearch.errors import RunError
from hpsearch.metrics import metric_of
from hpsearch.store import write_atomic
from hpsearch.trial import TrialResult

TABLES = ("trials", "summary", "comparison")
FORMATS = ("csv", "md", "latex", "json", "optuna")
OPTUNA_FILE = "optuna-journal.log"
DIGITS = 4


REQUIRED = {"trials": ("strategy", "repetition", "trial", "status"), "summary": ("strategy", "repetition"),
            "comparison": ("strategy",)}


def read_table(run_dir: Path, table: str) -> pd.DataFrame:
    path = Path(run_dir) / f"{table}.csv"
    if not Path(run_dir).is_dir():
        raise RunError(f"{run_dir}: no such run folder")
    frame = runfolder.read_csv(path, REQUIRED.get(table, ()))
    if frame is None:
        raise RunError(f"{path}: not found; is {run_dir} a finished hpsearch run folder? "
                       f"(tables: {', '.join(TABLES)})")
    return frame


def _format_value(column: str, value) -> str:
    """Digits a reader can use, no false precision; chosen by what the column holds."""
    if pd.isna(value):
        return ""
    if not isinstance(value, (float, np.floating)):
        return str(value)
    if column.startswith(("p_value", "p_holm", "p vs")):
        return f"{value:.3g}"
    if column == "skill":
        return f"{value:+.2%}"
    if any(name in column for name in ("rmse", "log_loss", "accuracy", "roc_auc", "RMSE", "log loss")):
        return f"{value:.4f}"
    if column == "learning_rate":
        return f"{value:.4g}"
    if (column in ("mean_rank", "mean rank", "seconds_to_target") or column.startswith(("seconds", "success"))
            or column.startswith("rel_diff") or column.endswith("_pct")):
        return f"{value:.2f}"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.1f}"


def _rounded(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy().astype(object)
    for column in out.columns:
        out[column] = [_format_value(column, v) for v in table[column]]
    return out


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "±": r"\ensuremath{\pm}",
                  "≥": r"\ensuremath{\geq}", "≤": r"\ensuremath{\leq}", "×": r"\ensuremath{\times}",
                  "−": "-", "\n": " ", "\r": " "}


def latex_escape(text) -> str:
    """``text`` as LaTeX prints it literally: no command, no math, no comment can come through
    (a column or caption naming ``\\input{...}`` prints as text)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) if ch.isprintable() or ch in "\n\r" else "?" for ch in str(text))


def _latex_label(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in ":-." else "-" for ch in label)


def render(table: pd.DataFrame, fmt: str, caption: str | None = None, label: str | None = None) -> str:
    """The table as csv, md (GitHub markdown), latex (booktabs, with ``label``) or json (records)."""
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "json":
        return table.replace({np.nan: None}).to_json(orient="records", indent=2) + "\n"
    shown = _rounded(table)
    if fmt == "md":
        align = ["right" if pd.api.types.is_numeric_dtype(table[c]) else "left" for c in table.columns]
        text = shown.to_markdown(index=False, disable_numparse=True, colalign=align) + "\n"
        return text + (f"\n{caption}\n" if caption else "")
    if fmt == "latex":  # every string escaped here, none by pandas: one rule for cells, headers, caption
        shown = shown.map(latex_escape)
        shown.columns = [latex_escape(c) for c in shown.columns]
        styler = shown.style.hide(axis="index")
        return ("% hpsearch table; needs \\usepackage{booktabs} for its rules\n"
                + styler.to_latex(hrules=True, caption=latex_escape(caption) if caption else None,
                                  label=_latex_label(label) if label else None, position_float="centering"))
    raise RunError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write_all_formats(table: pd.DataFrame, stem: Path, caption: str | None = None) -> None:
    """``stem.csv`` and ``stem.md`` (every column), ``stem.tex`` (the columns a paper needs)."""
    write_atomic(stem.with_suffix(".csv"), render(table, "csv"))
    write_atomic(stem.with_suffix(".md"), render(table, "md", caption))
    write_atomic(stem.with_suffix(".tex"), render(paper_columns(table), "latex", caption, f"tab:{stem.name}"))


def paper_columns(table: pd.DataFrame) -> pd.DataFrame:
    """A comparison table cut to what a paper needs (8 columns): strategy, best
    validation loss mean ± sd, test loss beside the baseline's, skill, epochs spent,
    expected running time to 90% of the achievable gain, mean rank, p."""
    if "repetitions" not in table.columns:
        return table
    m = metric_of(table.columns)
    best = f"{m.best_val}_mean"
    out = pd.DataFrame({"strategy": table["strategy"]})
    out[f"best val {m.label} (mean ± sd)"] = [
        f"{a:.4f} ± {b:.4f}" if pd.notna(b) else f"{a:.4f}" for a, b in zip(table[best], table[f"{m.best_val}_std"])]
    base = "mean" if m.baseline == "mean" else "prior"
    out[f"test {m.label} ({base})"] = [f"{a:.4f} ({b:.4f})" for a, b in zip(table[f"{m.loss('test')}_mean"],
                                                                       table[f"baseline_{m.name}"])]
    out["skill"] = table["skill"]
    out["epochs"] = table["epochs_trained_mean"]
    out["ERT 90%"] = table["ert_90"]
    out["mean rank"] = table["mean_rank"]
    out["p vs random"] = table["p_value_vs_random"]
    return out


def side_by_side(run_dirs: list[Path], labels: list[str] | None = None) -> pd.DataFrame:
    """Several runs' comparison tables in one, one row per (run, strategy)."""
    frames = []
    labels = labels or [Path(d).name for d in run_dirs]
    for run_dir, label in zip(run_dirs, labels):
        table = read_table(run_dir, "comparison")
        features = _features_of(Path(run_dir))
        m = metric_of(table.columns)
        if f"{m.best_val}_mean" not in table.columns:
            raise runfolder.damaged(Path(run_dir) / "comparison.csv", f"no column '{m.best_val}_mean'")
        keep = ["strategy", f"{m.best_val}_mean", f"{m.best_val}_std", f"{m.loss('test')}_mean",
                f"baseline_{m.name}", f"{m.reference}_{m.name}", "skill",
                *[f"test_{e}_mean" for e in m.extras], "mean_rank", "p_value_vs_random"]
        part = table[[c for c in keep if c in table.columns]].copy()
        part.insert(0, "features", features)
        part.insert(0, "run", label)
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def _features_of(run_dir: Path) -> str:
    import tomllib

    config = run_dir / "config.toml"
    if config.is_file():
        try:
            features = tomllib.loads(runfolder.read_text(config)).get("data", {}).get("features", "?")
        except tomllib.TOMLDecodeError:
            raise runfolder.damaged(config, "not valid TOML") from None
        return features if isinstance(features, str) else "selected"
    return "?"


def caption_for(table: pd.DataFrame, target: str = "magnitude") -> str:
    """The caption under a comparison table; ``target``: what is predicted."""
    reps = int(table["repetitions"].max()) if "repetitions" in table else 0
    m = metric_of(table.columns)
    base = "predict the training mean" if m.baseline == "mean" else "predict the training class frequencies"
    return (f"Validation and test {m.label} of {target} over {reps} paired repetitions. baseline_{m.name}: "
            f"{base}; skill = 1 - test {m.label} / baseline {m.label}. p_value_vs_random: "
            f"two-sided paired Wilcoxon signed-rank test on the per-repetition best validation {m.label} "
            f"(with {reps} repetitions the smallest possible p-value is {2 / 2 ** reps:.3g}).")


def study_name(strategy: str, repetition: int) -> str:
    return f"{strategy}/rep{repetition}"


def to_optuna(run_dir: Path, path: Path | None = None) -> tuple[Path, dict[str, int]]:
    """Write the run as Optuna studies in a JournalStorage file, one study per
    (strategy, repetition) named ``STRATEGY/repR``, for optuna-dashboard or
    ``optuna.load_study``. Each trial keeps its parameters, validation RMSE as
    the value (failed and diverged trials as FAIL), its per-epoch validation
    RMSE as intermediate values, and seed, status and message as user attributes.
    """
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from hpsearch.config import read_run_config
    from hpsearch.store import TrialStore, unique

    run_dir = Path(run_dir)
    exp = read_run_config(run_dir / "config.toml") if (run_dir / "config.toml").is_file() else None
    records = unique(TrialStore(run_dir).read())
    if exp is None or not records:
        raise RunError(f"{run_dir}: no finished trials to export (is it an hpsearch run folder?)")
    path = Path(path) if path is not None else run_dir / OPTUNA_FILE
    path.unlink(missing_ok=True)
    storage = JournalStorage(JournalFileBackend(str(path)))
    distributions = {dim.name: dim.to_optuna() for dim in exp.space}
    counts: dict[str, int] = {}
    groups: dict[tuple[str, int], list[dict]] = {}
    for record in records:
        result = TrialResult.from_record(record)
        groups.setdefault((result.strategy, result.repetition), []).append(result)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metric = run_metric(run_dir).loss("val")
    fallback = datetime.fromtimestamp(TrialStore(run_dir).path.stat().st_mtime)  # records without times
    for (strategy, repetition), group in groups.items():
        study = optuna.create_study(study_name=study_name(strategy, repetition), storage=storage,
                                    direction="minimize")
        with warnings.catch_warnings():  # "experimental" in Optuna: not the user's concern
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([metric])
        trials = [_frozen(r, distributions, fallback) for r in sorted(group, key=lambda r: r.trial)]
        study.add_trials(trials)
        counts[study.study_name] = len(trials)
    return path, counts


def _frozen(r: TrialResult, distributions: dict, fallback: datetime):
    """An Optuna trial with the run's own start and end times (the dashboard's timeline;
    ``fallback`` for a record without them)."""
    import optuna

    state = (optuna.trial.TrialState.COMPLETE if r.value is not None else optuna.trial.TrialState.PRUNED
             if r.status == "stopped" else optuna.trial.TrialState.FAIL)
    end = _when(r.finished_at) or fallback
    seconds = r.seconds if isinstance(r.seconds, (int, float)) and 0 <= r.seconds < 1e7 else 0.0
    start = _when(r.started_at) or end - timedelta(seconds=seconds)
    return optuna.trial.FrozenTrial(
        number=r.trial, state=state, value=r.value, datetime_start=start, datetime_complete=end,
        params={k: v for k, v in r.params.items() if k in distributions},
        distributions={k: d for k, d in distributions.items() if k in r.params}, trial_id=r.trial,
        user_attrs={"trial": r.trial, "seed": r.seed, "status": r.status, "message": r.message,
                    "seconds": r.seconds},
        system_attrs={}, intermediate_values={i + 1: v for i, v in enumerate(r.val_curve or []) if v is not None})


def _when(stamp) -> datetime | None:
    """A stored ISO-8601 time as a naive local datetime (as Optuna keeps them), or None."""
    if not isinstance(stamp, str):
        return None  # runs of an earlier version stored seconds since the run started
    try:
        return datetime.fromisoformat(stamp).astimezone().replace(tzinfo=None)
    except (ValueError, OverflowError, OSError):  # not a time: the record says nothing of when
        return None


def run_metric(run_dir: Path):
    """The metric of a run folder, from its run.json (regression for runs that predate tasks)."""
    import json

    from hpsearch.metrics import metric_for

    run_json = Path(run_dir) / "run.json"
    task = (runfolder.read_json(run_json) or {}).get("task", "regression")
    if task not in ("regression", "classification"):
        raise runfolder.damaged(run_json, f"task {str(task)[:40]!r}")
    return metric_for(task)


# -- the HTML report -------------------------------------------------------------------
FIGURES = ("curve_trials", "curve_epochs", "curve_seconds", "ecdf", "hyperparameters")


def html_report(run_dir: Path) -> str:
    """One self-contained HTML page of a run: the verdict table, figures (embedded),
    the summary per repetition, the config and the cleaning report. No external URL."""
    import base64
    import html
    import json

    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise RunError(f"{run_dir}: not an hpsearch run folder (no config.toml)")
    esc = html.escape
    from hpsearch.config import read_run_config

    exp = read_run_config(run_dir / "config.toml")
    parts = [f"<h1>{esc(exp.name)}</h1>"]
    if exp.description:
        parts.append(f"<p class=lead>{esc(exp.description)}</p>")
    parts.append(f"<p class=caption>hpsearch run folder {esc(str(run_dir))}</p>")
    comparison_csv = run_dir / "comparison.csv"
    summary_csv = run_dir / "summary.csv"
    repetitions = 0
    if summary_csv.is_file():
        with runfolder.reading(summary_csv):
            repetitions = int(read_table(run_dir, "summary")["repetition"].nunique())
    if comparison_csv.is_file():
        table = runfolder.read_csv(comparison_csv, REQUIRED["comparison"])
        target = exp.data.target_name
        with runfolder.reading(comparison_csv):
            parts += ["<h2>Strategies compared</h2>", _html_table(paper_columns(table)),
                      f"<p class=caption>{esc(caption_for(table, target))}</p>"]
            if len(table) > 1:
                parts.append(f"<p><b>Verdict.</b> {esc(_verdict(table))}</p>")
    metric = run_metric(run_dir)
    fidelity = exp.space_fidelity_name()
    for name in FIGURES:
        png = run_dir / f"{name}.png"
        if png.is_file():
            runfolder.refuse_link(png)
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            caption = figure_caption(name, metric.label, repetitions, fidelity)
            parts.append(f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
    if summary_csv.is_file():
        parts += ["<h2>Per repetition</h2>", _html_table(_rounded(read_table(run_dir, "summary")))]
    run_json = run_dir / "run.json"
    if run_json.is_file():
        cleaning = runfolder.read_json(run_json).get("cleaning", [])
        parts += ["<h2>Data</h2>", "<ul>" + "".join(f"<li>{esc(str(line))}</li>"
                                                     for line in (cleaning if isinstance(cleaning, list) else [])) + "</ul>"]
    parts += ["<h2>Config</h2>", f"<pre>{esc(runfolder.read_text(run_dir / 'config.toml'))}</pre>"]
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
             ".wide{overflow-x:auto;max-width:100%}"
             "table{border-collapse:collapse;font-size:90%}td,th{padding:.2em .6em;border-bottom:1px solid #ccc}"
             "th{border-bottom:2px solid #444}figure{display:block;margin:1.5em 0;width:100%}"
             "img{width:100%;max-width:52em;height:auto;display:block}figcaption{font-size:90%;color:#444}"
             ".caption{font-size:85%;color:#555}.lead{font-size:110%}"
             "pre{background:#f4f4f4;padding:1em;overflow-x:auto;white-space:pre-wrap}")
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{esc(exp.name)}: hpsearch report"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def figure_caption(name: str, metric: str, repetitions: int, fidelity: str = "epochs") -> str:
    """What a run's figure shows, in words."""
    over = f"mean over {repetitions} repetition{'s' if repetitions != 1 else ''}"
    band = ", 95% bootstrap band" if repetitions > 1 else ""
    against = {"curve_trials": "trials", "curve_seconds": "training seconds (one worker)",
               "curve_epochs": f"{fidelity} trained"}
    if name in against:
        return (f"Best validation {metric} so far against {against[name]}, relative to the predict-the-mean "
                f"baseline of the same split (1 is no better), {over}{band}.")
    if name == "ecdf":
        return (f"Data profile: the share of (repetition, target) pairs reached against {fidelity} trained, "
                f"targets at 50-99% of the achievable gain over the baseline, all repetitions.")
    return (f"Validation {metric} relative to the baseline against each searched hyperparameter, every trial of "
            f"every strategy.")


def _html_table(table: pd.DataFrame) -> str:
    """A table in a box of its own that scrolls sideways when it is wider than the page."""
    return '<div class=wide>' + _rounded(table).to_html(index=False, escape=True, border=0, na_rep="") + "</div>"


def _verdict(table: pd.DataFrame) -> str:
    """What the comparison can and cannot say, in words."""
    m = metric_of(table.columns)
    best = table.sort_values(f"{m.best_val}_mean").iloc[0]
    reps = int(table["repetitions"].max())
    significant = table[table["p_value_vs_random"] < 0.05]["strategy"].tolist()
    words = (f"lowest mean best validation {m.label}: {best['strategy']} "
             f"({best[f'{m.best_val}_mean']:.4f}, skill {best['skill']:+.2%} on test). ")
    if significant:
        words += f"Different from random search at p < 0.05 (uncorrected): {', '.join(significant)}."
    else:
        words += (f"No strategy differs from random search at p < 0.05 over {reps} paired repetitions "
                  f"(the smallest possible p-value is {2 / 2 ** reps:.3g}).")
    return words
