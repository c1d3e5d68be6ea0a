"""`python -m workers`: the same entry point as `python -m workers.worker`."""
import sys

from workers.worker import main

sys.exit(main())
