"""Tables of a run folder in the formats papers and tools want."""

from __future__ import annotations

import unicodedata
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from hpsearch.data.metrics import metric_of
from hpsearch.errors import RunError
from hpsearch.execution.runfolder import RunFolder
from hpsearch.files import write_atomic
from hpsearch.search.trial import TrialResult

FORMATS = ("csv", "md", "latex", "json", "optuna")
OPTUNA_FILE = "optuna-journal.log"
DIGITS = 4


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


def rounded(table: pd.DataFrame) -> pd.DataFrame:
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
    (a column or caption naming ``\\input{...}`` prints as text). Other characters outside ASCII
    are transliterated (``é`` -> ``e``; ``?`` where there is no ASCII form, a check mark say), so
    the table compiles with any font encoding."""
    return "".join(_LATEX_SPECIAL.get(ch, _ascii(ch)) if ch.isprintable() or ch in "\n\r" else "?"
                   for ch in str(text))


def _ascii(ch: str) -> str:
    if ch.isascii():
        return ch
    return unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode() or "?"


def _latex_label(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in ":-." else "-" for ch in label)


def render(table: pd.DataFrame, fmt: str, caption: str | None = None, label: str | None = None) -> str:
    """The table as csv, md (GitHub markdown), latex (booktabs, with ``label``) or json (records)."""
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "json":
        return table.replace({np.nan: None}).to_json(orient="records", indent=2) + "\n"
    shown = rounded(table)
    if fmt == "md":
        align = ["right" if pd.api.types.is_numeric_dtype(table[c]) else "left" for c in table.columns]
        text = shown.to_markdown(index=False, disable_numparse=True, colalign=align) + "\n"
        return text + (f"\n{caption}\n" if caption else "")
    if fmt == "latex":
        return latex_table([(None, shown)], caption, label)
    raise RunError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def latex_table(sections: list[tuple[str | None, pd.DataFrame]], caption: str | None = None,
                label: str | None = None) -> str:
    """A booktabs table of already formatted cells: one block of rows per section (a titled
    section opens with its title across the table), the first column left-aligned and the
    rest right-aligned, a header wider than its column's widest cell broken over two lines.
    Every string is escaped here, headers, cells and caption alike: nothing in a table can
    be a LaTeX command."""
    columns = list(sections[0][1].columns)
    sections = [(title, frame) for title, frame in sections if len(frame)] or sections[:1]
    cells = [[str(v) for v in row] for _, frame in sections for row in frame.itertuples(index=False)]
    widths = [max([len(row[i]) for row in cells] + [1]) for i in range(len(columns))]
    heads = [_header_lines(str(c), w) for c, w in zip(columns, widths)]
    depth = max(len(h) for h in heads)
    heads = [[""] * (depth - len(h)) + h for h in heads]  # one-line headers sit on the lower line
    lines = ["% hpsearch table; needs \\usepackage{booktabs} for its rules", "\\begin{table}", "\\centering", "\\small",
             "\\setlength{\\tabcolsep}{4pt}"]
    if caption:
        lines.append(f"\\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(f"\\label{{{_latex_label(label)}}}")
    lines += [f"\\begin{{tabular}}{{l{'r' * (len(columns) - 1)}}}", "\\toprule"]
    lines += [" & ".join(latex_escape(h[line]) for h in heads) + " \\\\" for line in range(depth)]
    for title, frame in sections:
        lines.append("\\midrule")
        if title:
            lines.append(f"\\multicolumn{{{len(columns)}}}{{l}}{{\\emph{{{latex_escape(title)}}}}} \\\\")
        lines += [" & ".join(latex_escape(v) for v in row) + " \\\\" for row in frame.itertuples(index=False)]
    return "\n".join(lines + ["\\bottomrule", "\\end{tabular}", "\\end{table}"]) + "\n"


def _header_lines(header: str, width: int) -> list[str]:
    """A header on one line, or on two where it is wider than the column's cells and has a space."""
    spaces = [i for i, ch in enumerate(header) if ch == " "]
    if len(header) <= width or not spaces:
        return [header]
    cut = min(spaces, key=lambda i: max(i, len(header) - i - 1))
    return [header[:cut], header[cut + 1:]]


def write_all_formats(table: pd.DataFrame, stem: Path, caption: str, paper: tuple[list, str]) -> None:
    """``stem.csv`` and ``stem.md`` (every column, ``caption`` under the markdown), ``stem.tex``
    (``paper``: the sections a paper needs and their caption)."""
    write_atomic(stem.with_suffix(".csv"), render(table, "csv"))
    write_atomic(stem.with_suffix(".md"), render(table, "md", caption))
    write_atomic(stem.with_suffix(".tex"), latex_table(*paper, f"tab:{stem.name}"))


def paper_columns(table: pd.DataFrame) -> pd.DataFrame:
    """A comparison table cut to what a paper needs (7 columns, formatted): strategy, mean best
    validation loss, mean test loss, skill, epochs trained, mean rank, p; the baseline and the
    linear model's test loss in rows under the strategies. Other tables: every column, formatted."""
    if "repetitions" not in table.columns:
        return rounded(table)
    m = metric_of(table.columns)
    out = pd.DataFrame({"Strategy": table["strategy"].astype(str)})
    out[f"Validation {m.label}"] = [f"{v:.4f}" for v in table[f"{m.best_val}_mean"]]
    out[f"Test {m.label}"] = [f"{v:.4f}" for v in table[f"{m.loss('test')}_mean"]]
    out["Skill"] = [_format_value("skill", v) for v in table["skill"]]
    out["Epochs"] = [f"{v:,.0f}" for v in table["epochs_trained_mean"]]
    out["Mean rank"] = [_format_value("mean_rank", v) for v in table["mean_rank"]]
    out["p vs random"] = [_format_value("p_value", v) for v in table["p_value_vs_random"]]
    rows = []
    for name, column in (("training mean" if m.baseline == "mean" else "class frequencies", f"baseline_{m.name}"),
                         (f"{m.reference} model", f"{m.reference}_{m.name}")):
        if column in table.columns:
            loss = float(table[column].mean())
            skill = 1 - loss / float(table[f"baseline_{m.name}"].mean())
            rows.append([name, "", f"{loss:.4f}", _format_value("skill", skill), "", "", ""])
    return pd.concat([out, pd.DataFrame(rows, columns=out.columns)], ignore_index=True)


def paper_table(table: pd.DataFrame, caption: str | None) -> tuple[list, str | None]:
    """The comparison's LaTeX table: the strategies, then the baselines below a rule."""
    shown = paper_columns(table)
    if "repetitions" not in table.columns:
        return [(None, shown)], caption
    return [(None, shown.iloc[:len(table)]), (None, shown.iloc[len(table):])], caption


def side_by_side(run_dirs: list[Path], labels: list[str] | None = None) -> pd.DataFrame:
    """Several runs' comparison tables in one, one row per (run, strategy)."""
    frames = []
    labels = labels or [Path(d).name for d in run_dirs]
    for run_dir, label in zip(run_dirs, labels):
        folder = RunFolder(run_dir)
        table = folder.table("comparison")
        features = _features_of(folder)
        m = metric_of(table.columns)
        if f"{m.best_val}_mean" not in table.columns:
            raise folder.damaged("comparison.csv", f"no column '{m.best_val}_mean'")
        keep = ["strategy", f"{m.best_val}_mean", f"{m.best_val}_std", f"{m.loss('test')}_mean",
                f"baseline_{m.name}", f"{m.reference}_{m.name}", "skill",
                *[f"test_{e}_mean" for e in m.extras], "mean_rank", "p_value_vs_random"]
        part = table[[c for c in keep if c in table.columns]].copy()
        part.insert(0, "features", features)
        part.insert(0, "run", label)
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def _features_of(folder: RunFolder) -> str:
    import tomllib

    if folder.is_run():
        try:
            features = tomllib.loads(folder.config_text()).get("data", {}).get("features", "?")
        except tomllib.TOMLDecodeError:
            raise folder.damaged(folder.CONFIG, "not valid TOML") from None
        return features if isinstance(features, str) else "selected"
    return "?"


def caption_for(table: pd.DataFrame, target: str = "magnitude", paper: bool = False) -> str:
    """The caption of a comparison table (``paper``: of its paper columns); ``target``: what is predicted."""
    reps = int(table["repetitions"].max()) if "repetitions" in table else 0
    m = metric_of(table.columns)
    base = "the training mean" if m.baseline == "mean" else "the training class frequencies"
    times = f"{reps} paired repetition{'s' if reps != 1 else ''}"
    smallest = f" (with {times} the smallest possible p is {2 / 2 ** reps:.3g})" if reps >= 1 else ""
    if not paper:
        return (f"Validation and test {m.label} of {target} over {times}. baseline_{m.name}: predict {base}; "
                f"skill = 1 - test {m.label} / baseline {m.label}. p_value_vs_random: two-sided paired Wilcoxon "
                f"signed-rank test on the per-repetition best validation {m.label}{smallest}.")
    return (f"{m.label} of {target}, mean over {times}: validation, the best found; test, the chosen "
            f"configuration's. Skill: 1 - test {m.label} / the baseline's (predicting {base}), shown below "
            f"the strategies with the {m.reference} model. Epochs: trained per repetition. Mean rank of the "
            f"best validation {m.label} (1 is best). p: two-sided paired Wilcoxon signed-rank test of the best "
            f"validation {m.label} against random search{smallest}.")


def study_name(strategy: str, repetition: int) -> str:
    return f"{strategy}/rep{repetition}"


def to_optuna(run_dir: Path, exp, path: Path | None = None) -> tuple[Path, dict[str, int]]:
    """Write the run as Optuna studies in a JournalStorage file, one study per
    (strategy, repetition) named ``STRATEGY/repR``, for optuna-dashboard or
    ``optuna.load_study``. Each trial keeps its parameters, validation RMSE as
    the value (failed and diverged trials as FAIL), its per-epoch validation
    RMSE as intermediate values, and seed, status and message as user attributes.
    ``exp``: the run's config, as read by :func:`hpsearch.config.read_run_config`.
    """
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    folder = RunFolder(run_dir)
    run_dir = folder.path
    records = folder.records()
    if not records:
        raise RunError(f"{run_dir}: no finished trials to export (is it an hpsearch run folder?)")
    if path is None:  # in the run folder: only a file hpsearch wrote there is replaced
        folder.claim(OPTUNA_FILE)
        path = run_dir / OPTUNA_FILE
    path = Path(path)
    path.unlink(missing_ok=True)
    storage = JournalStorage(JournalFileBackend(str(path)))
    distributions = {dim.name: dim.to_optuna() for dim in exp.space}
    counts: dict[str, int] = {}
    groups: dict[tuple[str, int], list[dict]] = {}
    for record in records:
        result = TrialResult.from_record(record)
        groups.setdefault((result.strategy, result.repetition), []).append(result)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metric = folder.metric().loss("val")
    fallback = datetime.fromtimestamp(folder.store.path.stat().st_mtime)  # records without times
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
