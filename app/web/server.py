"""`kmemvisor serve`: the app under gunicorn, one worker (sessions live in its memory)
with a thread per open WebSocket (Flask-SocketIO's threading mode) and a few more for
plain HTTP, so that a full house of tabs never leaves the page or /healthz waiting.
The app is built in the worker, where its engine threads run."""

from __future__ import annotations

import sys

from gunicorn.app.base import BaseApplication

from app.web import DEFAULTS, create_app

HTTP_THREADS = 64  # kept for plain HTTP beyond the tabs' limit


class _Server(BaseApplication):
    def __init__(self, config: dict, options: dict) -> None:
        self.config, self.options = config, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return create_app(self.config)


def serve(host: str = "127.0.0.1", port: int = 5000, config: dict | None = None) -> int:
    config = dict(config or {})
    threads = config.get("MAX_TABS", DEFAULTS["MAX_TABS"]) + HTTP_THREADS
    print(f"kMemvisor Lab: open http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    options = {"bind": f"{host}:{port}", "workers": 1, "worker_class": "gthread",
               "threads": threads, "timeout": 0, "graceful_timeout": 5, "keepalive": 30,
               "backlog": 2048, "accesslog": None, "errorlog": "-", "loglevel": "warning"}
    try:
        _Server(config, options).run()
    except SystemExit as e:
        return int(e.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(serve())
