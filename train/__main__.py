"""`python -m train CONFIG [key=value ...]` in a checkout: the same as `facealign train`."""
import sys

from facealign.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
