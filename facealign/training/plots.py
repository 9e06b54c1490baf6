"""The study's plots, from `facealign report`'s results document (training/results.py), beside the
study's figures: our cells as mean +- sd over seeds (error bars), the study's two series in their own
styles (black dashed: MSE; grey dash-dot: Wing), and the mean-face baseline as a red dotted line."""
from __future__ import annotations

from pathlib import Path

from .study_figures import LOSS_NAMES, STUDY_BATCH, STUDY_DEPTH_LOSS, STUDY_LR, STUDY_WING_BATCH
from .sweep import DEPTHS

# line styles: ours by series colour, solid with error bars; the study's two series each its own style
EQUAL_STEPS = "MSE, at batch 4's steps"  # the batch_steps control's series
OURS = {"MSE": "C0", EQUAL_STEPS: "C2", "Wing": "C1"}
STUDY_STYLE = {"MSE": dict(color="black", linestyle="--", marker="x"),
               "Wing": dict(color="grey", linestyle="-.", marker="+", markersize=9)}


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        from facealign.install import pip_hint

        raise SystemExit(f"facealign report --plots needs matplotlib: {pip_hint('train')}") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _cells(doc, grid):
    return [c for c in doc["cells"] if c["grid"] == grid and c["common_nme_mean"] is not None]


def _budget(doc, grid) -> str:
    run = next((r for r in doc["runs"] if r["grid"] == grid), None)
    if run is None:
        return ""
    per_cell = [set(c["seeds"]) for c in doc["cells"] if c["grid"] == grid]
    common, every = sorted(set.intersection(*per_cell)), sorted(set.union(*per_cell))
    listed = lambda seeds: ",".join(map(str, seeds))
    said = lambda seeds: f"seed{'s' if len(seeds) > 1 else ''} {listed(seeds)}"
    if common == every:
        seeds = said(every)
    elif common:  # some cells ran more seeds than the rest
        seeds = f"{said(common)} in every cell, {listed(every)} in some"
    else:
        seeds = f"seeds {listed(every)} in some"
    epochs = f"{run['budget_epochs']} epoch{'s' if run['budget_epochs'] != 1 else ''}"
    return f"{epochs}, {run['input_size']} px, {run['optimizer'].upper()}, {seeds}"


def _seeds_said(cells) -> str:
    """What a series' error bars stand for: the seeds behind its points, which may differ by point."""
    counts = sorted({len(c["seeds"]) for c in cells})
    if counts == [1]:
        return "one seed, no error bars"
    if counts[0] == 1:
        return f"mean ± sd where {counts[-1]} seeds, else one"
    return f"mean ± sd over {counts[0]} seeds" if len(counts) == 1 else "mean ± sd over seeds"


def _against(ax, cells, key, study: dict | None, label: str) -> None:
    cells = sorted(cells, key=lambda c: c[key])
    xs = [c[key] for c in cells]
    colour = OURS.get(label, "C3")
    ax.errorbar(xs, [c["common_nme_mean"] for c in cells], yerr=[c["common_nme_sd"] or 0 for c in cells], fmt="o-",
                color=colour, capsize=3, label=f"{label}: here, common NME ({_seeds_said(cells)})")
    ax.errorbar(xs, [c["val_nme_mean"] for c in cells], yerr=[c["val_nme_sd"] or 0 for c in cells], fmt="s:",
                color=colour, alpha=0.6, capsize=3, label=f"{label}: here, validation NME")
    if study:
        ax.plot(list(study), list(study.values()), label=f"{label}: the study", **STUDY_STYLE[label])


def _baseline(ax, doc) -> None:
    b = doc.get("baseline")
    if b and b.get("common_nme") is not None:
        ax.axhline(b["common_nme"], color="red", linestyle=":", lw=1.2, label=f"mean-face baseline ({b['common_nme']:.1f})")


def _nme_figure(plt, doc, curves, key: str, xlabel: str, fixed: str, logx: bool):
    """NME against one setting: curves = [(grid, study figures, label)], those with cells drawn."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    drawn = [(g, study, label) for g, study, label in curves if _cells(doc, g)]
    for g, study, label in drawn:
        _against(ax, _cells(doc, g), key, study, label)
    _baseline(ax, doc)
    if logx:
        xs = sorted({c[key] for g, _, _ in drawn for c in _cells(doc, g)} | {x for _, study, _ in drawn for x in study or {}})
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
    ax.set(xlabel=xlabel, ylabel="NME % (outer eye corners)",
           title=f"NME against {xlabel} ({fixed}; {_budget(doc, drawn[0][0])})")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=6.5)
    return fig


def _depth_figure(plt, doc):
    """Three panels of the best validation loss by depth, one per loss, beside the study's figures (its
    only measure there); a fourth of our common NME by depth, a line per loss (losses of different
    functions are not comparable with one another; the NME is)."""
    depth = _cells(doc, "depth_loss")
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    for ax, (loss, study) in zip(axes, STUDY_DEPTH_LOSS.items()):
        here = {c["model"]: c for c in depth if c["loss"] == loss}
        xs = range(len(DEPTHS))
        mean = [here[d]["best_val_loss_mean"] if d in here else float("nan") for d in DEPTHS]
        sd = [(here[d]["best_val_loss_sd"] or 0) if d in here else 0 for d in DEPTHS]
        spread = any(sd)  # (one seed: no error bars, and the label says so)
        ax.bar([x - 0.2 for x in xs], mean, 0.4, yerr=sd if spread else None, capsize=3, color="C0",
               label="here (mean ± sd)" if spread else "here (one seed)")
        ax.bar([x + 0.2 for x in xs], study, 0.4, color="white", edgecolor="black", hatch="//", label="the study")
        ax.set_xticks(list(xs), [d.replace("resnet", "R") for d in DEPTHS])
        ax.set(title=f"{LOSS_NAMES[loss]}: best validation loss", ylabel="loss, points in [0, 1] of the crop")
        ax.legend(fontsize=7)
    ax = axes[3]
    for i, loss in enumerate(STUDY_DEPTH_LOSS):
        here = {c["model"]: c for c in depth if c["loss"] == loss}
        xs = [x for x, d in enumerate(DEPTHS) if d in here]
        ax.errorbar(xs, [here[DEPTHS[x]]["common_nme_mean"] for x in xs], capsize=3, fmt=("o-", "o--", "o:")[i],
                    yerr=[here[DEPTHS[x]]["common_nme_sd"] or 0 for x in xs], color=f"C{i + 1}", label=LOSS_NAMES[loss])
    _baseline(ax, doc)
    ax.set_xticks(range(len(DEPTHS)), [d.replace("resnet", "R") for d in DEPTHS])
    ax.set(title=f"here: common NME by depth\n({_seeds_said(depth)})", ylabel="NME % (outer eye corners)")
    ax.legend(fontsize=7)
    fig.suptitle(f"Loss x depth ({_budget(doc, 'depth_loss')})")
    return fig


def _curve_style(run: dict, grid: str, first: bool) -> dict:
    """One run in curves.png: colour = cell (depth_loss: colour = depth, dash = loss); seeds share the style,
    the first seed alone is labelled."""
    label = run["cell"].replace(f"sweep_{grid}_", "") if first else None
    if grid != "depth_loss":
        return {"label": label}
    dash = {"mse": "-", "l1": "--", "smoothl1": ":"}[run["loss"]]
    label = f"R{run['model'][6:]} {LOSS_NAMES[run['loss']].split()[0]}" if first else None
    return {"label": label, "color": f"C{DEPTHS.index(run['model'])}", "linestyle": dash}


def _curves_figure(plt, doc, grids):
    from matplotlib.ticker import MaxNLocator

    cols = min(3, len(grids))  # (fewer grids than a row's three: no empty panels beside them)
    rows = (len(grids) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(max(13 * cols / 3, 6), 4 * rows), squeeze=False)
    for ax in axes.flat[len(grids):]:
        ax.axis("off")
    for ax, g in zip(axes.flat, grids):
        colours = {}
        order = lambda r: (r["batch_size"], r["lr"], DEPTHS.index(r["model"]) if r["model"] in DEPTHS else -1, r["name"])
        for r in sorted((r for r in doc["runs"] if r["grid"] == g), key=order):
            first = r["cell"] not in colours
            style = _curve_style(r, g, first)
            colours.setdefault(r["cell"], style.get("color", f"C{len(colours) % 10}"))
            style["color"] = colours[r["cell"]]
            ax.plot([c["epoch"] for c in r["curve"]], [c["val_nme"] for c in r["curve"]], lw=1.1, marker=".",
                    markersize=3, **style)
        ax.set(title=f"{g}: validation NME per epoch", xlabel="epoch", ylabel="NME %")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=6, ncol=3 if g == "depth_loss" else 1)
    return fig


def write_plots(doc: dict, folder: Path) -> list[Path]:
    """nme_vs_batch.png, nme_vs_lr.png, loss_by_depth.png, curves.png (those whose runs exist)."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        written.append(folder / name)

    batch = [("batch", STUDY_BATCH, "MSE"), ("batch_steps", None, EQUAL_STEPS),
             ("wing_batch", STUDY_WING_BATCH, "Wing")]
    if any(_cells(doc, g) for g, _, _ in batch):
        save(_nme_figure(plt, doc, batch, "batch_size", "batch size", "lr 0.3", logx=True), "nme_vs_batch.png")
    if _cells(doc, "lr"):
        save(_nme_figure(plt, doc, [("lr", STUDY_LR, "MSE")], "lr", "learning rate", "batch 4", logx=False),
             "nme_vs_lr.png")
    if _cells(doc, "depth_loss"):
        save(_depth_figure(plt, doc), "loss_by_depth.png")
    grids = [g for g in ("batch", "batch_steps", "lr", "wing_batch", "depth_loss", "cascade")
             if any(r["grid"] == g for r in doc["runs"])]
    if grids:
        save(_curves_figure(plt, doc, grids), "curves.png")
    return written
