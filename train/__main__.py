"""`python -m train CONFIG [key=value ...]` in a checkout: the same as `facealign train`."""
import sys

from facealign.training.cli import main

if __name__ == "__main__":
    sys.exit(main())
