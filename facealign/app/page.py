"""The Gradio web page: picture, video and webcam tabs over one FaceAligner cache.

    facealign serve [--host 127.0.0.1] [--port 7860] [--share]    (in a checkout: python -m demo.app)

The page is layout and wiring only; what a request does lives in facealign.app.handlers, what any
front end shares (the aligner cache, pictures in) in facealign.serving; its flags in
facealign.commands.serve.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MAX_FILE_SIZE = "50mb"
DETECTOR_HINT = ("**Face detector**: `mediapipe` finds faces near and far (full range, each face redrawn by "
                 "the short-range model; the default); `mediapipe_short` close-up faces only; "
                 "`mediapipe_full` full range only.")
NOTHING_YET = "–"  # what a result field shows before the first result


def _picture_input():
    """gr.Image for uploads that hands a file Pillow cannot open to the handler instead of failing.

    The stock component opens every upload with Pillow before our function runs,
    so a text file would end in a bare "Error"; this one passes the path on and
    facealign.app.handlers answers with a sentence. It renders as the ordinary image widget.
    """
    import gradio as gr

    class PictureInput(gr.Image):
        is_template = True  # use the frontend's "image" component

        def preprocess(self, payload):
            try:
                return super().preprocess(payload)
            except Exception:  # noqa: BLE001 - Pillow raises several types for undecodable files
                return str(payload.path) if payload is not None and payload.path else None

    return PictureInput(label="Picture", type="filepath", image_mode=None,
                        sources=["upload", "clipboard"], elem_id="picture-in")


def backend_choices() -> list[str]:
    """"auto" and the backends this machine can run (the library says which: TensorRT only with a
    CUDA GPU, each only with its packages installed)."""
    from facealign.backends import available_backends

    return ["auto", *available_backends()]


def _settings_panel(gr):
    from facealign.detectors import list_detectors
    from facealign.weights import PRESETS

    with gr.Accordion("Settings", open=True):
        with gr.Row():
            preset = gr.Dropdown(list(PRESETS), value=PRESETS[0], label="Preset")
            backend = gr.Dropdown(backend_choices(), value="auto", label="Backend")
            detector = gr.Dropdown(list_detectors(), value="mediapipe", label="Face detector")
            max_faces = gr.Slider(0, 20, value=0, step=1, label="Maximum faces (0: every face)")
        with gr.Row():
            smoothing = gr.Checkbox(True, label="Smoothing (video, webcam)")
            points = gr.Checkbox(True, label="Points")
            contours = gr.Checkbox(True, label="Contours")
            pose_axes = gr.Checkbox(False, label="Pose axes")
            box = gr.Checkbox(False, label="Face box")
        gr.Markdown(DETECTOR_HINT, elem_id="detector-hint")  # body text: Dropdown info= is tiny and grey
    return [preset, backend, detector, smoothing, max_faces, points, contours, pose_axes, box]


def _png(image_rgb, beside):
    """The annotated picture as a PNG file of this request's own. Gradio caches an array under
    the hash of its bytes and rewrites that file on every request, so identical results of
    concurrent requests clobbered each other while being served; a file is cached atomically."""
    if image_rgb is None or not beside:
        return image_rgb
    import cv2

    path = Path(beside).with_name("annotated.png")
    cv2.imwrite(str(path), cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    return str(path)


def build_app(weights=None, concurrency: int = 2,
              max_video_frames: int = 1800, work_dir=None):
    """The page as a gr.Blocks with its queue set; launch it with `launch(app, ...)` or `.launch()`."""
    import gradio as gr

    from facealign.serving import AlignerCache

    from . import handlers as H

    root = Path(work_dir or tempfile.mkdtemp(prefix="facealign-app-"))
    cache = AlignerCache(weights=weights, keep=max(2, concurrency))

    def settings_of(preset, backend, detector, smoothing, max_faces, points, contours, pose_axes, box):
        return H.Settings(preset or "accurate", backend or "auto", detector or "mediapipe",
                          bool(smoothing), int(max_faces or 0) or None, bool(points), bool(contours),
                          bool(pose_axes), bool(box))

    # Named parameters (not *args) so that gradio_client callers can pass settings by name.
    def on_picture(picture, preset, backend, detector, smoothing, max_faces, points, contours,
                   pose_axes, box):
        s = settings_of(preset, backend, detector, smoothing, max_faces, points, contours, pose_axes, box)
        try:
            r = H.analyse_picture(picture, s, cache, root / "pictures")
        except Exception as err:  # a backend or weights problem: say it, keep serving
            log.exception("picture request failed")
            r = H.PictureResult(message=f"Could not process the picture: {err}")
        if r.message and (r.image is None or r.n_faces == 0):
            gr.Warning(r.message)
        return _png(r.image, r.json_path), r.n_faces, r.table, r.json_path, r.csv_path, r.message

    def on_video(video, preset, backend, detector, smoothing, max_faces, points, contours, pose_axes,
                 box, progress=gr.Progress()):
        s = settings_of(preset, backend, detector, smoothing, max_faces, points, contours, pose_axes, box)
        try:
            r = H.analyse_video(video, s, cache, root / "videos", progress=progress,
                                max_frames=max_video_frames)
        except Exception as err:
            log.exception("video request failed")
            r = H.VideoResult(message=f"Could not process the video: {err}")
        if r.video_path is None or r.frames_with_faces == 0:
            gr.Warning(r.message)
        return r.video_path, r.json_path, r.message

    def on_frame(frame, session, preset, backend, detector, smoothing, max_faces, points, contours,
                 pose_axes, box):
        s = settings_of(preset, backend, detector, smoothing, max_faces, points, contours, pose_axes, box)
        try:
            return H.webcam_frame(frame, s, session, cache)
        except Exception as err:
            log.exception("webcam frame failed")
            return None, session, f"Could not process the frame: {err}"

    with gr.Blocks(title="facealign: 68-point face landmarks", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as app:
        gr.Markdown("# facealign\n68-point face landmarks with head pose. "
                    "Pictures over 1920 px are downscaled for processing.")
        settings = _settings_panel(gr)
        with gr.Tab("Picture", id="picture"):
            with gr.Row():
                with gr.Column():
                    pic_in = _picture_input()
                    pic_btn = gr.Button("Find landmarks", variant="primary", elem_id="picture-run")
                with gr.Column():
                    pic_out = gr.Image(label="Landmarks", format="png", interactive=False,
                                       elem_id="picture-out")
                    n_faces = gr.Number(None, label="Faces found", precision=0, interactive=False,
                                        placeholder=NOTHING_YET, elem_id="picture-count")
                    pic_msg = gr.Textbox(label="Message", interactive=False, elem_id="picture-message")
            faces_table = gr.Dataframe(headers=H.TABLE_HEADERS, label="Faces (detector score, point confidences' mean and minimum, head pose in degrees, box)",
                                       interactive=False)
            with gr.Row():
                pic_json = gr.File(label="Points (JSON)", interactive=False)
                pic_csv = gr.File(label="Points (CSV)", interactive=False)
            gr.on([pic_in.upload, pic_btn.click], on_picture, inputs=[pic_in, *settings],
                  outputs=[pic_out, n_faces, faces_table, pic_json, pic_csv, pic_msg],
                  api_name="picture", concurrency_id="work")
        with gr.Tab("Video", id="video"):
            with gr.Row():
                with gr.Column():
                    vid_in = gr.Video(label="Video", sources=["upload"], elem_id="video-in")
                    vid_btn = gr.Button("Process video", variant="primary", elem_id="video-run")
                with gr.Column():
                    vid_out = gr.Video(label="Landmarks (H.264 MP4)", interactive=False, elem_id="video-out")
                    vid_json = gr.File(label="Per-frame points (JSON)", interactive=False)
                    vid_msg = gr.Textbox(label="Message", interactive=False, elem_id="video-message")
            vid_btn.click(on_video, inputs=[vid_in, *settings], outputs=[vid_out, vid_json, vid_msg],
                          api_name="video", concurrency_id="work", show_progress_on=[vid_out])
        with gr.Tab("Webcam", id="webcam"):
            session = gr.State(None, time_to_live=600, delete_callback=lambda s: H.end_session(s, cache))
            with gr.Row():
                cam_in = gr.Image(label="Camera", sources=["webcam"], streaming=True, type="numpy",
                                  elem_id="webcam-in")
                cam_out = gr.Image(label="Landmarks", format="jpeg", interactive=False, elem_id="webcam-out")
            cam_msg = gr.Textbox(label="Status", interactive=False, elem_id="webcam-status")
            cam_in.stream(on_frame, inputs=[cam_in, session, *settings], outputs=[cam_out, session, cam_msg],
                          api_name="webcam", stream_every=0.15, time_limit=300,
                          concurrency_limit=max(1, concurrency))
    app.queue(default_concurrency_limit=max(1, concurrency), max_size=256)
    return app


def launch(app, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           max_file_size=DEFAULT_MAX_FILE_SIZE, block: bool = True, quiet: bool = False):
    """Start the server; with block=False return at once (tests), else serve until Ctrl-C.

    Gradio's own start-up lines are replaced by ours (its "set share=True in launch()" names
    a Python argument, where our users have the --share flag)."""
    out = app.launch(server_name=host, server_port=port, share=share, max_file_size=max_file_size,
                     prevent_thread_lock=True, ssr_mode=False, quiet=True, show_error=False)
    if not quiet:
        print(f"facealign page on {app.local_url}" + (f" and {app.share_url}" if app.share_url else
                                                      " (pass --share for a public link)"), flush=True)
    if block:
        app.block_thread()
    return out


def _stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt  # as Ctrl-C: the server closes and the work folder is removed


def serve(host: str = "127.0.0.1", port: int = 7860, share: bool = False, weights=None, concurrency: int = 2,
          max_file_size=DEFAULT_MAX_FILE_SIZE, max_video_frames: int = 1800) -> int:
    """Serve until Ctrl-C or SIGTERM -> exit code (1: the server could not start); the work folder
    (every request's results, and Gradio's copies of uploads and results unless $GRADIO_TEMP_DIR is
    set) is removed when the server stops."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="facealign-app-"))
    os.environ.setdefault("GRADIO_TEMP_DIR", str(work / "gradio"))
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Ctrl-C (SIGINT) stops it even when it was started with SIGINT ignored, as a background job of a
    # non-interactive shell is: Python then installs no KeyboardInterrupt handler of its own, and the
    # server went on serving (how tests/test_cli.py's serve test hung when the suite ran under nohup)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    app = None
    try:
        app = build_app(weights=weights, concurrency=concurrency, max_video_frames=max_video_frames,
                        work_dir=work / "results")
        launch(app, host, port, share, max_file_size)
    except OSError as err:  # port taken and the like
        print(f"facealign serve: cannot start the server on {host}:{port}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before or after the server started
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        if app is not None:
            app.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0
