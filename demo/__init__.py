"""Demos: the Gradio web page (app.py) and the webcam loop (webcam.py)."""
