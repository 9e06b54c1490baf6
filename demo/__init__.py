"""The repository's demo entry points: `python -m demo.webcam` and `python -m demo.app` run
facealign/app/ (installed, the same are `facealign webcam` and `facealign serve`)."""
