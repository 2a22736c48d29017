"""`kmemvisor serve`: the app under gunicorn, one worker (sessions live in its memory)
with a thread per WebSocket, which suits Flask-SocketIO's threading mode."""

from __future__ import annotations

import sys

from gunicorn.app.base import BaseApplication

from app.web import create_app

DEFAULT_THREADS = 256


class _Server(BaseApplication):
    def __init__(self, app, options: dict) -> None:
        self.application, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def serve(host: str = "127.0.0.1", port: int = 5000, threads: int = DEFAULT_THREADS) -> int:
    app = create_app()
    print(f"kMemvisor Lab: open http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    options = {"bind": f"{host}:{port}", "workers": 1, "worker_class": "gthread",
               "threads": threads, "timeout": 0, "graceful_timeout": 5, "keepalive": 30,
               "accesslog": None, "errorlog": "-", "loglevel": "warning"}
    try:
        _Server(app, options).run()
    except SystemExit as e:
        return int(e.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(serve())
