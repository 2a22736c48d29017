"""`kmemvisor serve`: the app under gunicorn, one worker (sessions live in its memory)
with a thread per open WebSocket (Flask-SocketIO's threading mode) and a few more for
plain HTTP, so that a full house of tabs never leaves the page or /healthz waiting.
The app is built in the worker, where its engine threads run."""

from __future__ import annotations

import sys

from gunicorn.app.base import BaseApplication

from app.web import DEFAULTS, create_app
from app.web.security import host_allowed

HTTP_THREADS = 64  # kept for plain HTTP beyond the tabs' limit
SWITCH_INTERVAL = 0.0005


class _Server(BaseApplication):
    def __init__(self, config: dict, options: dict) -> None:
        self.config, self.options = config, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # a thread waiting for the interpreter gets it within this long: with
        # thousands of threads (four per open tab) the default 5 ms turns every lock
        # handed from thread to thread into a queue of 5 ms waits
        sys.setswitchinterval(SWITCH_INTERVAL)
        return create_app(self.config)


def serve(host: str = "127.0.0.1", port: int = 5000, config: dict | None = None) -> int:
    config = dict(config or {})
    if not host_allowed(host, frozenset()):  # a name to serve on is a name to answer to
        config["ALLOWED_HOSTS"] = ",".join(
            [config.get("ALLOWED_HOSTS", DEFAULTS["ALLOWED_HOSTS"]), host])
    threads = config.get("MAX_TABS", DEFAULTS["MAX_TABS"]) + HTTP_THREADS
    print(f"kMemvisor Lab: open http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    options = {"bind": f"{host}:{port}", "workers": 1, "worker_class": "gthread",
               "threads": threads, "worker_connections": threads + 1024,
               "timeout": 0, "graceful_timeout": 5, "keepalive": 30,
               "backlog": 2048, "accesslog": None, "errorlog": "-", "loglevel": "warning"}
    try:
        _Server(config, options).run()
    except SystemExit as e:
        return int(e.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(serve())
