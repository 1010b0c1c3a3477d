"""`python -m rowcount_monitor.cli`: the same command line as `rowcount-monitor`."""

import sys

from . import main

sys.exit(main())
