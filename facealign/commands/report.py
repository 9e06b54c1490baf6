"""`facealign report`: the study's tables from logs/ as markdown, its results document (--json) and
plots (facealign.training.report)."""
from __future__ import annotations

import sys

from . import args as shared


def add_arguments(p) -> None:
    p.add_argument("--out", default=".", help="folder holding logs/ and checkpoints/")
    p.add_argument("--logs", help="read the run folders from here instead of OUT/logs, without checkpoints "
                                  "(e.g. docs/study/runs, the copies beside a results file)")
    p.add_argument("--evaluate", action="store_true", help="evaluate best.pt on the common subset where missing")
    shared.data(p)
    p.add_argument("--markdown", help="also write the tables to this file")
    shared.json_out(p, "write the study's grid runs to this file (and copy their small files to its folder's "
                       "runs/); evaluates where missing; never drops runs the file holds")
    p.add_argument("--overwrite", action="store_true", help="with --json: replace the file even if it held runs "
                                                            "this report does not find")
    p.add_argument("--plots", help="write the study's plots (PNG) into this folder (needs matplotlib)")


def run(args) -> int:
    from facealign.training.report import write_report

    try:
        write_report(args.out, args.logs, args.evaluate, args.data, args.markdown, args.json, args.overwrite,
                     args.plots)
    except FileExistsError as e:
        print(f"facealign report: {e}", file=sys.stderr)
        return 2
    return 0
