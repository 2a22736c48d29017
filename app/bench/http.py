"""Opening a classroom over HTTP as a browser does: the lessons page first (its form
token and cookie), then the form."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


def open_classroom(base: str, lesson: str) -> tuple[str, str]:
    """(code, instructor key) of a new classroom of `lesson`."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    page = opener.open(base + "/lessons", timeout=10).read().decode()
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"lesson": lesson, "csrf": token}).encode()
    try:
        opener.open(base + "/classrooms", data=data, timeout=30)
    except urllib.error.HTTPError as e:
        if e.code != 302:
            raise RuntimeError(f"opening a classroom: {e.code} {e.read()[:200]!r}") from None
        url = urllib.parse.urlparse(e.headers["Location"])
        return url.path.rsplit("/", 1)[1], urllib.parse.parse_qs(url.query)["key"][0]
    raise RuntimeError("opening a classroom did not redirect")
