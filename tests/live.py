"""A real `kmemvisor serve` in a subprocess for the reliability tests: its settings,
its database (kept across a restart), its log in a file, and many tabs over real
WebSockets from one thread (app.bench.crowd)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from app.bench.crowd import Tab
from tests.browser_helpers import free_port

# the server in a mount namespace of its own, where the database's folder is a bind
# mount that can be made read-only (a real read-only file system, even for root)
_READ_ONLY = ('mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"')


def can_mount_read_only() -> bool:
    """Whether this machine lets a process have a mount namespace (Linux, privileged)
    and has the tools to enter it (util-linux)."""
    if not all(shutil.which(tool) for tool in ("unshare", "nsenter", "mount")):
        return False
    try:
        return subprocess.run(["unshare", "-m", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class Live:
    def __init__(self, *settings: str, database: str | None = None) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.database = database or f"{self.tmp.name}/kmemvisor.sqlite3"
        self.settings = settings
        self.log_path = Path(self.tmp.name) / "server.log"
        self.start()

    def start(self, read_only: bool = False) -> None:
        """Start the server; `read_only`: its database's folder on a read-only file
        system (see `writable` to change that while it runs)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port),
                "--database", self.database]
        for s in self.settings:
            args += ["--set", s]
        if read_only:
            args = ["unshare", "-m", "sh", "-c", _READ_ONLY,
                    str(Path(self.database).parent), *args]
        self.log = open(self.log_path, "a")  # noqa: SIM115 (lives as long as the server)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2).read()
                self.worker = self.proc.pid
                return
            except urllib.error.HTTPError:  # up, and saying what is wrong
                self.worker = self.proc.pid
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("server died: " + self.log_path.read_text()) from None
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def writable(self) -> None:
        """The database's folder, read-only since `start(read_only=True)`, takes writes
        again (as a file system remounted read-write)."""
        subprocess.run(["nsenter", "-t", str(self.worker), "-m", "mount", "-o",
                        "remount,rw,bind", str(Path(self.database).parent)], check=True,
                       timeout=10)

    def kill(self) -> None:
        """As a crash would: no chance to write anything more."""
        os.kill(self.worker, signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        self.tmp.cleanup()

    def get(self, path: str, host: str | None = None) -> tuple[int, str]:
        req = urllib.request.Request(self.url + path, headers={"Host": host} if host else {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def json(self, path: str) -> dict:
        return json.loads(self.get(path)[1])

    def logged(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def tab(self, source: str | None = None) -> Tab:
        return Tab(self.url, source)


def run(coro):
    return asyncio.run(coro)


async def hello(tab: Tab, payload: dict | None = None) -> dict:
    await tab.open()
    return await tab.call("hello", payload or {})
