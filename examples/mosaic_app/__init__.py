"""A small Mosaic-shaped FastAPI app: the demo and test target of mosaic-diag.

Run it with `python -m examples.mosaic_app --port 8000` (see `--help`); the ASGI app is
`examples.mosaic_app.main:app`.
"""
