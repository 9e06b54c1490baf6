"""`python -m demo.webcam` in a checkout: the same as `facealign webcam`
(facealign/commands/webcam.py, facealign/app/webcam.py)."""
import sys

from facealign.commands.webcam import main

if __name__ == "__main__":
    sys.exit(main())
