"""The study's plots, from `facealign report`'s records (train/report.py), beside the study's figures."""
from __future__ import annotations

from pathlib import Path

from .sweep import DEPTHS

# The figures the study reported (NME %, or best loss for depth_loss), as issue 13 quotes them.
STUDY_BATCH = {2: 5.874, 4: 5.580, 8: 8.542, 16: 10.694, 32: 12.052}
STUDY_LR = {0.1: 6.695, 0.2: 6.513, 0.3: 5.580, 0.4: 6.004, 0.5: 5.5856, 0.6: 6.190}
STUDY_WING_BATCH = {2: 12.178, 4: 6.369}
STUDY_DEPTH_LOSS = {
    "mse": (0.0032, 0.0028, 0.0027, 0.0031, 0.0028),
    "l1": (0.0377, 0.0259, 0.0384, 0.0363, 0.0362),
    "smoothl1": (0.0018, 0.0013, 0.0013, 0.0015, 0.0014),
}
LOSS_NAMES = {"mse": "MSE", "l1": "MAE (L1)", "smoothl1": "SmoothL1"}


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        from facealign.install import pip_hint

        raise SystemExit(f"facealign report --plots needs matplotlib: {pip_hint('train')}") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _grid(records, grid):
    return [r for r in records if r["grid"] == grid and not r["diverged"]]


def _budget(runs) -> str:
    if not runs:
        return ""
    r = runs[0]
    return f"{r['budget_epochs']} epochs, {r['input_size']} px, {r['optimizer'].upper()}"


def _against(ax, runs, key, study: dict, label: str) -> None:
    runs = sorted(runs, key=lambda r: r[key])
    xs = [r[key] for r in runs]
    ax.plot(xs, [r["common_nme"] for r in runs], "o-", label=f"{label}: here, common NME")
    ax.plot(xs, [r["val_nme"] for r in runs], "s:", label=f"{label}: here, validation NME")
    ax.plot(list(study), list(study.values()), "x--", color="grey", label=f"{label}: the study")


def _nme_figure(plt, curves, key: str, xlabel: str, fixed: str, logx: bool):
    """NME against one setting: curves = [(runs, study figures, label)], those with runs drawn."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = [(runs, study, label) for runs, study, label in curves if runs]
    for runs, study, label in drawn:
        _against(ax, runs, key, study, label)
    if logx:
        xs = sorted({r[key] for runs, _, _ in drawn for r in runs})
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
    ax.set(xlabel=xlabel, ylabel="NME %", title=f"NME against {xlabel} ({fixed}; {_budget(drawn[0][0])})")
    ax.legend(fontsize=7)
    return fig


def _curve_style(run: dict, grid: str) -> dict:
    """Line label and style of one run in curves.png; depth_loss's 15 runs: colour = depth, dash = loss."""
    if grid != "depth_loss":
        return {"label": run["name"].replace(f"sweep_{grid}_", "")}
    depth = DEPTHS.index(run["model"])
    dash = {"mse": "-", "l1": "--", "smoothl1": ":"}[run["loss"]]
    return {"label": f"R{run['model'][6:]} {LOSS_NAMES[run['loss']].split()[0]}", "color": f"C{depth}", "linestyle": dash}


def write_plots(records: list[dict], folder: Path) -> list[Path]:
    """nme_vs_batch.png, nme_vs_lr.png, loss_by_depth.png, curves.png (those whose runs exist)."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        written.append(folder / name)

    batch = [(_grid(records, "batch"), STUDY_BATCH, "MSE"), (_grid(records, "wing_batch"), STUDY_WING_BATCH, "Wing")]
    if any(runs for runs, _, _ in batch):
        save(_nme_figure(plt, batch, "batch_size", "batch size", "lr 0.3", logx=True),
             "nme_vs_batch.png")
    lr = [(_grid(records, "lr"), STUDY_LR, "MSE")]
    if lr[0][0]:
        save(_nme_figure(plt, lr, "lr", "learning rate", "batch 4", logx=False),
             "nme_vs_lr.png")

    depth = _grid(records, "depth_loss")
    if depth:
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
        for ax, (loss, study) in zip(axes, STUDY_DEPTH_LOSS.items()):
            here = {r["model"]: r["best_val_loss"] for r in depth if r["loss"] == loss}
            xs = range(len(DEPTHS))
            ax.bar([x - 0.2 for x in xs], [here.get(d, float("nan")) for d in DEPTHS], 0.4, label="here")
            ax.bar([x + 0.2 for x in xs], study, 0.4, color="grey", label="the study")
            ax.set_xticks(list(xs), [d.replace("resnet", "R") for d in DEPTHS])
            ax.set(title=f"{LOSS_NAMES[loss]}: best validation loss", ylabel="loss, points in [0, 1] of the crop")
            ax.legend(fontsize=7)
        fig.suptitle(f"Loss x depth ({_budget(depth)})")
        save(fig, "loss_by_depth.png")

    grids = [g for g in ("batch", "lr", "wing_batch", "depth_loss", "cascade") if any(r["grid"] == g for r in records)]
    if grids:
        from matplotlib.ticker import MaxNLocator

        rows = (len(grids) + 2) // 3
        fig, axes = plt.subplots(rows, 3, figsize=(13, 4 * rows), squeeze=False)
        for ax in axes.flat[len(grids):]:
            ax.axis("off")
        for ax, g in zip(axes.flat, grids):
            for r in sorted((r for r in records if r["grid"] == g), key=lambda r: (r["batch_size"], r["lr"], r["name"])):
                curve = r["curve"]
                ax.plot([c["epoch"] for c in curve], [c["val_nme"] for c in curve], lw=1.2, **_curve_style(r, g))
            ax.set(title=f"{g}: validation NME per epoch", xlabel="epoch", ylabel="NME %")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=6, ncol=3 if g == "depth_loss" else 1)
        save(fig, "curves.png")
    return written
