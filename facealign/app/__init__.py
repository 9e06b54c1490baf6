"""The front ends: the Gradio page (page.py + handlers.py, over facealign.serving), the webcam loop
(webcam.py), the page's load test. Their flags are in facealign.commands (serve, webcam)."""
