"""Deterministic weights and inputs behind tests/data/heads_reference.npz: the outputs every head gave
before heads became plug-ins (commit 7caaec5), and the shipped presets' outputs since their last
retraining (2026-12-02), which they must still give."""
import numpy as np
import torch

# networks whose state-dict keys and outputs are pinned (resnet18, seeded weights from `filled`)
CASES = {
    "avg": dict(width=0.25, head="avg", input_size=64),
    "flatten": dict(width=0.25, head="flatten", input_size=64),
    "flatten4": dict(width=0.25, head="flatten", input_size=64, in_chans=4),
    "integral": dict(width=0.25, head="integral", input_size=64),
}


def filled(model: torch.nn.Module) -> torch.nn.Module:
    """Every tensor of the state dict drawn from a generator seeded by its key's position in sorted
    order, scaled to keep activations of order 1: the outputs depend on names, shapes and the forward."""
    sd = model.state_dict()
    new = {}
    for i, k in enumerate(sorted(sd)):
        v = sd[k]
        g = torch.Generator().manual_seed(i)
        if not v.is_floating_point():
            new[k] = v
        elif k.endswith("running_var"):
            new[k] = 1 + 0.5 * torch.rand(v.shape, generator=g)
        elif v.ndim > 1:
            new[k] = torch.randn(v.shape, generator=g) / np.sqrt(v[0].numel())
        elif k.endswith("weight"):
            new[k] = 1 + 0.1 * torch.randn(v.shape, generator=g)
        elif k in ("mean", "std"):
            new[k] = v
        else:
            new[k] = 0.1 * torch.randn(v.shape, generator=g)
    model.load_state_dict(new)
    return model.eval()


@torch.no_grad()
def probe(model: torch.nn.Module, chans: int, size: int) -> np.ndarray:
    """The model's (4, 68, 2) outputs on a seeded batch of inputs in [0, 1]."""
    x = torch.rand(4, chans, size, size, generator=torch.Generator().manual_seed(1234))
    return model.eval()(x).numpy()


def seeded(kw: dict) -> np.ndarray:
    """The first weights a run with seed 0 starts from (train/models.py seeds, then builds), as
    every parameter's sum: the same random stream as before keeps seeded runs repeatable."""
    from facealign.models import create_model

    torch.manual_seed(0)
    return np.array([p.double().sum().item() for p in create_model("resnet18", **kw).parameters()])


def main(path: str) -> None:
    """Write the reference file. Only meaningful at the pre-refactor commit 7caaec5: the point is to
    pin what the old code gave (run there with `python tests/heads_reference.py tests/data/heads_reference.npz`)."""
    from pathlib import Path

    from facealign.formats.cascade_pt import load_cascade
    from facealign.models import create_model

    weights = Path(__file__).resolve().parents[1] / "weights"
    out = {}
    for name, kw in CASES.items():
        m = filled(create_model("resnet18", **kw))
        out[f"{name}/keys"] = np.array([f"{k}:{tuple(v.shape)}" for k, v in m.state_dict().items()])
        out[f"{name}/out"] = probe(m, kw.get("in_chans", 3), kw["input_size"])
        out[f"{name}/seeded"] = seeded(kw)
    for preset in ("accurate", "fast"):
        casc = load_cascade(weights / f"{preset}.pt")
        for i, (spec, m) in enumerate(zip(casc.stages, casc.models())):
            out[f"{preset}{i + 1}/out"] = probe(m, spec.in_channels, spec.input_size)
    np.savez_compressed(path, **out)


if __name__ == "__main__":
    import sys

    main(sys.argv[1])
