"""Load script for the web page (not a timed test): N concurrent picture requests via gradio_client.

    python -m facealign.app.load_test                                  # starts the page itself on a free port
    python -m facealign.app.load_test --url http://127.0.0.1:7860/ --requests 50 --picture face.jpg

Each request runs in its own thread with its own client (its own session), all
released at once; prints the failures, then p50 / p95 / max latency and throughput.
Latency includes the upload and the time spent waiting in the page's queue.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from pathlib import Path

DEFAULT_PICTURE = Path(__file__).resolve().parents[1].parent / "shared/data/media/single_face.jpg"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None, help="a running page; default: start one on a free local port")
    p.add_argument("--requests", type=int, default=50, help="concurrent requests")
    p.add_argument("--picture", default=str(DEFAULT_PICTURE))
    p.add_argument("--concurrency", type=int, default=2, help="the started page's concurrency limit")
    p.add_argument("--preset", default="accurate")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_page(concurrency: int):
    """Launch the page in this process -> (app, url)."""
    from facealign.app.page import build_app, launch

    app = build_app(concurrency=concurrency)
    port = free_port()
    launch(app, port=port, block=False, quiet=True)
    return app, f"http://127.0.0.1:{port}/"


def one_request(url: str, picture: str, preset: str, start: threading.Barrier, out: list, i: int) -> None:
    from gradio_client import Client, handle_file

    try:
        try:
            client = Client(url, verbose=False, analytics_enabled=False)
        except Exception:
            start.abort()  # release the others rather than leave them waiting
            raise
        start.wait()
        t0 = time.perf_counter()
        result = client.predict(handle_file(picture), preset=preset, api_name="/picture")
        out[i] = (time.perf_counter() - t0, None if result[1] >= 1 else f"no face found: {result[5]!r}")
    except Exception as err:  # noqa: BLE001 - a load test reports every failure
        out[i] = (None, f"{type(err).__name__}: {err}")


def run_load(url: str, picture: str, n: int, preset: str) -> list[tuple[float | None, str | None]]:
    """n threads, one request each, released together -> [(latency s or None, error or None)]."""
    out: list = [(None, "did not finish")] * n
    start = threading.Barrier(n, timeout=300)
    threads = [threading.Thread(target=one_request, args=(url, picture, preset, start, out, i)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def report(results, wall_s: float) -> int:
    import numpy as np

    lat = np.array([r[0] for r in results if r[0] is not None and r[1] is None])
    failures = [r[1] for r in results if r[1] is not None]
    for k, msg in enumerate(failures):
        print(f"failure {k + 1}: {msg}")
    print(f"requests: {len(results)}, ok: {len(lat)}, failed: {len(failures)}")
    if len(lat):
        p50, p95 = np.percentile(lat, [50, 95])
        print(f"latency: p50 {p50:.2f} s, p95 {p95:.2f} s, max {lat.max():.2f} s")
        print(f"wall time {wall_s:.1f} s, throughput {len(lat) / wall_s:.2f} pictures/s")
    return 0 if not failures else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m facealign.app.load_test", description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if not Path(args.picture).is_file():
        print(f"load_test: no picture at {args.picture}; pass --picture", file=sys.stderr)
        return 2
    app, url = (None, args.url) if args.url else start_page(args.concurrency)
    try:
        from gradio_client import Client, handle_file

        warm = Client(url, verbose=False, analytics_enabled=False)  # first request loads the model
        warm.predict(handle_file(args.picture), preset=args.preset, api_name="/picture")
        print(f"{args.requests} concurrent requests to {url} ...")
        t0 = time.perf_counter()
        results = run_load(url, args.picture, args.requests, args.preset)
        return report(results, time.perf_counter() - t0)
    finally:
        if app is not None:
            app.close()


if __name__ == "__main__":
    sys.exit(main())
