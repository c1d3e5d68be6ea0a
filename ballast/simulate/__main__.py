"""`python -m ballast.simulate ...`, the same command `ballast simulate` mounts."""
import sys

from ballast.simulate.command import main

sys.exit(main())
