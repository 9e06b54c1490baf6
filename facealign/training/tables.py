"""`facealign report`'s markdown: every logged run, then the study's cells (mean +- sd over seeds, the
paired bootstrap against each grid's best cell), the pairs the study's trends are judged on and the
normalisation table; the mean-face baseline is a row of each table of cells."""
from __future__ import annotations

from facealign.metrics import NORMALISATIONS

from .study_figures import LOSS_NAMES, STUDY_DEPTH_LOSS
from .sweep import DEPTHS

NORM_NAMES = {"outer_eyes": "outer eye corners (ours)", "pupils": "inter-pupil (eye centres)",
              "box": "box, sqrt(w h)"}
BASELINE_LABEL = "baseline: mean face in the ground-truth box"


def _f(v, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def pm(mean, sd, digits: int = 2) -> str:
    """'mean ± sd', the mean alone for one seed, '–' for none."""
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" if sd is None else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def runs_table(found: dict[str, list[dict]], test_of, baseline: dict | None) -> str:
    """One row per logged run (test_of(name): its common-subset result or None), and the baseline's."""
    lines = ["| experiment | epochs | best val NME % | common NME % | FR@8 % | AUC@8 | train min |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, rows in found.items():
        if not rows:
            continue
        best = min(float(r["val_nme"]) for r in rows)
        minutes = sum(float(r["seconds"]) for r in rows) / 60
        t = test_of(name)
        test = f"{t['nme']:.2f} | {t['fr']:.2f} | {t['auc']:.3f}" if t else "– | – | –"
        lines.append(f"| {name} | {rows[-1]['epoch']} | {best:.2f} | {test} | {minutes:.0f} |")
    lines.append(_baseline_row(baseline))
    return "\n".join(lines)


def _baseline_row(baseline: dict | None) -> str:
    if not baseline:
        return f"| {BASELINE_LABEL} | – | – | – (no 300-W data) | – | – | – |"
    return f"| {BASELINE_LABEL} | – | – | {baseline['nme']:.2f} | {baseline['fr']:.2f} | {baseline['auc']:.3f} | – |"


def _vs_best(comparisons: list[dict], grid: str, cell: str) -> str:
    c = next((c for c in comparisons if c["grid"] == grid and c["cell"] == cell), None)
    if c is None:
        return "best" if any(x["grid"] == grid and x["best"] == cell for x in comparisons) else "–"
    verdict = "differs" if c["differs"] else "cannot tell"
    return f"{c['diff']:+.2f} [{c['ci'][0]:+.2f}, {c['ci'][1]:+.2f}] {verdict}"


def grid_table(doc: dict, grid: str) -> str:
    cells = [c for c in doc["cells"] if c["grid"] == grid]
    lines = [f"### {grid}", "",
             "| cell | seeds | epochs | steps | best val NME % | common NME % | FR@8 % | AUC@8 | "
             "vs best: Δ NME [95 % CI] |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in cells:
        seeds = ",".join(map(str, c["seeds"])) + (f" ({c['diverged']} diverged)" if c["diverged"] else "")
        name = f"{c['cell']} (the runs of {c['same_as']})" if c.get("same_as") else c["cell"]
        lines.append(f"| {name} | {seeds} | {c['epochs']} | {c['steps'] if c['steps'] is not None else '–'} | "
                     f"{pm(c['val_nme_mean'], c['val_nme_sd'])} | {pm(c['common_nme_mean'], c['common_nme_sd'])} | "
                     f"{pm(c['common_fr_mean'], c['common_fr_sd'])} | {pm(c['common_auc_mean'], c['common_auc_sd'], 3)} | "
                     f"{_vs_best(doc['comparisons'], grid, c['cell'])} |")
    b = doc.get("baseline")
    if b:
        lines.append(f"| {BASELINE_LABEL} | – | – | – | – | {_f(b['nme'])} | {_f(b['fr'])} | {_f(b['auc'], 3)} | "
                     f"{_vs_best(doc['comparisons'], grid, 'baseline')} |")
    return "\n".join(lines)


def questions_table(doc: dict) -> str:
    lines = ["### The study's trends: pairs of cells (a - b, common NME %)", "",
             "| trend | question | a | b | Δ NME [95 % CI] | verdict |", "| --- | --- | --- | --- | --- | --- |"]
    for q in doc["questions"]:
        lines.append(f"| {q['trend']} | {q['question']} | {q['a']} | {q['b']} | "
                     f"{q['diff']:+.2f} [{q['ci'][0]:+.2f}, {q['ci'][1]:+.2f}] | "
                     f"{'differs' if q['differs'] else 'cannot tell'} |")
    return "\n".join(lines)


def depth_loss_table(doc: dict) -> str:
    """The depth_loss grid as the study gave it: a row per depth, the common NME of each loss, then each
    loss's best validation loss with the study's figure in brackets (its only measure for this grid;
    losses of different functions are not comparable with one another), and the minutes a run took."""
    cells = {(c["model"], c["loss"]): c for c in doc["cells"] if c["grid"] == "depth_loss"}
    minutes = {r["name"]: r["minutes"] for r in doc["runs"]}
    names = [LOSS_NAMES[loss] for loss in STUDY_DEPTH_LOSS]
    lines = ["### depth_loss by depth and loss (common NME %; best validation loss, the study's in brackets)", "",
             "| model | " + " | ".join(f"{n} NME %" for n in names) + " | "
             + " | ".join(f"{n} best val loss (the study)" for n in names) + " | minutes a run (" + ", ".join(names) + ") |",
             "| --- " * (2 * len(names) + 2) + "|"]
    for i, depth in enumerate(DEPTHS):
        here = [cells.get((depth, loss)) for loss in STUDY_DEPTH_LOSS]
        nme = [pm(c["common_nme_mean"], c["common_nme_sd"]) if c else "not run" for c in here]
        best_loss = [f"{pm(c['best_val_loss_mean'], c['best_val_loss_sd'], 4) if c else '–'} ({study[i]})"
                     for c, study in zip(here, STUDY_DEPTH_LOSS.values())]
        timed = [[m for n in c["runs"] if (m := minutes.get(n)) is not None] if c else [] for c in here]
        mins = ", ".join(f"{sum(m) / len(m):.0f}" if m else "–" for m in timed)
        lines.append(f"| {depth.replace('resnet', 'ResNet-')} | " + " | ".join(nme + best_loss) + f" | {mins} |")
    return "\n".join(lines)


def normalisation_table(doc: dict) -> str:
    lines = ["### NME of each grid's best cell under three normalisations (common subset, %)", "",
             "| grid | cell | seeds | " + " | ".join(NORM_NAMES[n] for n in NORMALISATIONS) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in NORMALISATIONS) + " |"]
    for row in doc["normalisations"]:
        values = " | ".join(pm(row[n]["mean"], row[n]["sd"]) for n in NORMALISATIONS)
        lines.append(f"| {row['grid']} | {row['cell']} | {','.join(map(str, row['seeds'])) or '–'} | {values} |")
    return "\n".join(lines)


def markdown_tables(doc: dict) -> str:
    """The study's tables: one per grid, the trends' pairs, then the normalisations; mean ± sd over seeds."""
    grids = list(dict.fromkeys(c["grid"] for c in doc["cells"]))
    parts = [grid_table(doc, g) for g in grids]
    if "depth_loss" in grids:
        parts.insert(grids.index("depth_loss") + 1, depth_loss_table(doc))
    if doc.get("questions"):
        parts.append(questions_table(doc))
    if doc["normalisations"]:
        parts.append(normalisation_table(doc))
    return "\n\n".join(parts)
