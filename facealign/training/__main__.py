"""`python -m facealign.training CONFIG ...` = `facealign train` (what torchrun starts in each process)."""
import sys

from facealign.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
