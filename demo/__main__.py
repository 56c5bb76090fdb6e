"""`python -m demo` (what `make run` calls): seed the demo, then serve it."""

import sys

from demo.seed import main

sys.exit(main())
