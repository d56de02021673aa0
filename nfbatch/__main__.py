"""`python -m nfbatch`."""

import sys

from nfbatch.cli import main

sys.exit(main())
