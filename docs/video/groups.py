"""Where the shake is, by point group: our filtered points (default video settings) and, as a bound, the
unfiltered ones under a centred Gaussian over time (sigma 3 frames: it reads frames ahead), beside the
FaceMesh vertices nearest our points (FACEMESH_68), group by group.

    python docs/video/groups.py [CLIP ...] [--preset accurate] [--json OUT]

Per point: its mean frame-to-frame motion left after the similarity fitted to all 68 points of the two
frames, as % of the outer-eye-corner distance (ours: points 36, 45; FaceMesh's: its vertices 33, 263, as
jitter.jitter_of and `facealign stability` divide); a group's figure is the mean over its points.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from facealign import FaceAligner
from facealign.stability import EYES, FACEMESH_68, FACEMESH_EYES, facemesh_track, record
from facealign.transform import apply, similarity
from facealign.video import read_frames

sys.path.insert(0, str(Path(__file__).resolve().parent))
from levers import centred_gaussian, parser, run  # noqa: E402

GROUPS = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48),
          "mouth": range(48, 68)}


def per_point(track: np.ndarray, iod: np.ndarray) -> np.ndarray:
    """(K,) each point's mean rigid-removed frame-to-frame motion, % of the frame's eye-corner distance iod (T,)."""
    steps = []
    for a, b, d in zip(track[:-1], track[1:], iod[1:]):
        if np.isfinite(a).all() and np.isfinite(b).all():
            steps.append(np.linalg.norm(b - apply(similarity(a, b), a), axis=1) / d)
    return 100 * np.mean(steps, axis=0)


def eye_distance(track: np.ndarray, eyes: tuple[int, int]) -> np.ndarray:
    return np.linalg.norm(track[:, eyes[0]] - track[:, eyes[1]], axis=-1)


def measure_clip(path: Path, preset: str) -> dict:
    frames, fps = read_frames(path)
    mesh = facemesh_track(frames)
    mesh = per_point(mesh[:, list(FACEMESH_68)], eye_distance(mesh, FACEMESH_EYES))
    with FaceAligner(preset=preset, video=True, fps=fps) as fa:
        rec = record(frames, fps, fa)
    iod = eye_distance(rec["raw"], EYES)
    ours, bound = per_point(rec["filtered"], iod), per_point(centred_gaussian(rec["raw"], 3.0), iod)
    groups = {**{g: list(i) for g, i in GROUPS.items()}, "all": list(range(68))}
    return {"source": path.name, "preset": preset,
            "groups": {g: {"facemesh_68": round(mesh[i].mean(), 4), "ours_filtered": round(ours[i].mean(), 4),
                           "centred_sigma3": round(bound[i].mean(), 4)} for g, i in groups.items()}}


def show_groups(r: dict) -> None:
    print(f"{r['source']} ({r['preset']})")
    print(f"{'group':<8}{'FaceMesh 68':>12}{'ours filtered':>15}{'x FM':>7}{'centred, sigma 3':>18}{'x FM':>7}")
    for g, v in r["groups"].items():
        fm = v["facemesh_68"]
        print(f"{g:<8}{fm:>12.3f}{v['ours_filtered']:>15.3f}{v['ours_filtered'] / fm:>7.2f}"
              f"{v['centred_sigma3']:>18.3f}{v['centred_sigma3'] / fm:>7.2f}")


def main(argv=None) -> int:
    args = parser(__doc__).parse_args(argv)
    return run(args, lambda clip: measure_clip(clip, args.preset), show_groups)


if __name__ == "__main__":
    sys.exit(main())
