"""`python -m demo.app` in a checkout: the same as `facealign serve` (facealign/app/page.py)."""
import sys

from facealign.app.page import main

if __name__ == "__main__":
    sys.exit(main())
