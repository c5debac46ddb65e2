"""`python -m mosaic_diag`."""

from mosaic_diag.entry import main

raise SystemExit(main())
