"""The app as `kmemvisor serve` runs it, with the strict Content-Security-Policy the
page is written for, so the browser tests fail on any inline script or style attribute
(`python -m tests.csp_serve --port N --database PATH`)."""

from __future__ import annotations

import argparse
import os
import sys

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'self'")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--database", required=True)
    args = p.parse_args()
    os.environ["KMEMVISOR_DATABASE"] = args.database
    from app.web import create_app, server

    app = create_app()

    @app.after_request
    def strict_policy(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    # serve() builds its own app; the same gunicorn settings around this one
    original = server.create_app
    server.create_app = lambda: app
    try:
        return server.serve("127.0.0.1", args.port, 64)
    finally:
        server.create_app = original


if __name__ == "__main__":
    sys.exit(main())
