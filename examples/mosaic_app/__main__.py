"""`python -m examples.mosaic_app [--host 127.0.0.1] [--port 8000]`: the app under uvicorn."""

from __future__ import annotations

import argparse

import uvicorn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.mosaic_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    uvicorn.run("examples.mosaic_app.main:app", host=args.host, port=args.port,
                log_level=args.log_level, access_log=False)  # the kit's middleware writes one line a request
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
