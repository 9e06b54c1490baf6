"""The front ends: the Gradio page (page.py + handlers.py), the webcam loop (webcam.py), the page's load test."""
