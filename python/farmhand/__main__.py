import sys

from farmhand.cli import main

sys.exit(main())
