"""`python -m demo.webcam` in a checkout: the same as `facealign webcam` (facealign/app/webcam.py)."""
import sys

from facealign.app.webcam import main

if __name__ == "__main__":
    sys.exit(main())
