"""`facealign serve` (in a checkout also `python -m demo.app`): the Gradio web page (facealign.app.page)."""
from __future__ import annotations

import sys

from . import args as shared


def add_arguments(p) -> None:
    from facealign.app.page import DEFAULT_MAX_FILE_SIZE

    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for the network)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    shared.weights(p)
    p.add_argument("--concurrency", type=int, default=2, help="requests processed at once (the rest queue)")
    p.add_argument("--max-file-size", default=DEFAULT_MAX_FILE_SIZE, help="upload limit, e.g. 50mb")
    p.add_argument("--max-video-frames", type=int, default=1800, help="frames processed per uploaded video")


def run(args) -> int:
    from facealign.app.page import serve

    return serve(args.host, args.port, args.share, args.weights, args.concurrency, args.max_file_size,
                 args.max_video_frames)


def main(argv=None) -> int:
    """`python -m demo.app`: `facealign serve` (its flags, --verbose, the CLI's quiet third-party output)."""
    from facealign.cli import main as cli_main

    return cli_main(["serve", *(sys.argv[1:] if argv is None else argv)])
