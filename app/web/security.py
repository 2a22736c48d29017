"""What every response says to the browser about itself, which host names the server
answers to, and the token that keeps other sites from submitting its forms.

* Host names: an IP address (what a classroom network uses) or a name in
  ALLOWED_HOSTS. A page of another site that makes its own name resolve to this server
  (DNS rebinding) is refused, since its Host is that name.
* A request whose body stops coming is answered 408, not as the server's error.
* The limits per address count an IPv6 client by its /64 (client_of).
* Forms that change something (opening a classroom) carry a token that must match a
  cookie only this site can set (SameSite=Strict), and their Origin, when the browser
  sends one, must be this host.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from flask import Flask, Response, abort, request

CSRF_COOKIE = "kmv_csrf"
CSRF_FIELD = "csrf"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors {frames}")
# same-origin: the instructor's key (in the classroom page's address) never leaves the
# site, while the site's own forms still say where they come from
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cross-Origin-Opener-Policy": "same-origin"}


def host_allowed(host_header: str, allowed: frozenset[str]) -> bool:
    """Whether a Host header names this server: an IP literal, or an allowed name."""
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:5000
        host = host[1:host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host in allowed


def allowed_hosts(setting: str) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in setting.split(",") if h.strip())


def client_of(address: str) -> str:
    """Who an address is, for the limits per address: an IPv4 address (an IPv4-mapped
    IPv6 one too) is itself; an IPv6 address is its /64, the block one host or one
    network is given (any address in it is theirs to use)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and not ip.is_loopback:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address


def install(app: Flask) -> None:
    embeddable = app.config.get("EMBED_FRAME_ANCESTORS", "*")
    strict = app.config.get("CSP", True)

    @app.after_request
    def headers(response):
        frames = embeddable if request.endpoint == "pages.embed" else "'self'"
        if strict:
            response.headers.setdefault("Content-Security-Policy", CSP.format(frames=frames))
        for k, v in HEADERS.items():
            response.headers.setdefault(k, v)
        if request.endpoint != "pages.embed":
            response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response

    @app.errorhandler(TimeoutError)
    def stalled(_error):
        # the connection's socket timed out in the middle of the request's body (the
        # server's deadline, app/web/server.py): the client's fault, not the server's
        return Response("the request's body stopped coming: send it whole", 408,
                        {"Connection": "close"}, mimetype="text/plain")


def csrf_token() -> tuple[str, bool]:
    """The token for a form: the browser's cookie, or a new one (and whether the
    response must set it)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) >= 32:
        return token, False
    return secrets.token_urlsafe(32), True


def set_csrf_cookie(response, token: str) -> None:
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Strict",
                        max_age=86400 * 30)


def check_csrf() -> None:
    """Abort with 403 unless the form comes from this site's own page."""
    origin = request.headers.get("Origin")
    # "null" comes from pages that send no referrer; the token below still decides
    if origin and origin != "null" and origin != request.host_url.rstrip("/"):
        abort(403, description="this form was sent from another site")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.form.get(CSRF_FIELD, "")
    if not cookie or not hmac.compare_digest(cookie, sent):
        abort(403, description="the form has expired: reload the lessons page and try again")
