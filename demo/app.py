"""`python -m demo.app` in a checkout: the same as `facealign serve`
(facealign/commands/serve.py, facealign/app/page.py)."""
import sys

from facealign.commands.serve import main

if __name__ == "__main__":
    sys.exit(main())
