"""The figures the study reported, as issue 13 quotes them: NME % by batch size and learning rate (MSE),
by batch size with Wing, and the best validation loss by depth (ResNet-18, 34, 50, 101, 152) for each
loss, on [0, 1] points. The plots draw them beside ours and the depth_loss table puts them in brackets."""
from __future__ import annotations

STUDY_BATCH = {2: 5.874, 4: 5.580, 8: 8.542, 16: 10.694, 32: 12.052}
STUDY_LR = {0.1: 6.695, 0.2: 6.513, 0.3: 5.580, 0.4: 6.004, 0.5: 5.5856, 0.6: 6.190}
STUDY_WING_BATCH = {2: 12.178, 4: 6.369}
STUDY_DEPTH_LOSS = {
    "mse": (0.0032, 0.0028, 0.0027, 0.0031, 0.0028),
    "l1": (0.0377, 0.0259, 0.0384, 0.0363, 0.0362),
    "smoothl1": (0.0018, 0.0013, 0.0013, 0.0015, 0.0014),
}
LOSS_NAMES = {"mse": "MSE", "l1": "MAE (L1)", "smoothl1": "SmoothL1"}
