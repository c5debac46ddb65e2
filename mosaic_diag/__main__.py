"""`python -m mosaic_diag`."""

from mosaic_diag.cli import main

raise SystemExit(main())
