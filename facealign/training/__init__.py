"""facealign's training module: configs, augmentation, losses, the loop, sweeps, reports (the `train` extra)."""
