"""Who may use the console's proxy: the page it served, in the browser of the user who started it, and nothing else.

The proxy signs whatever it forwards with the user's AWS credentials, so a request it should not forward is a request
made with those credentials. Three checks, each against a different attack:
- Host must name the proxy itself (127.0.0.1 or localhost on its port): a DNS-rebinding page, whose own name now
  resolves to 127.0.0.1, still sends its own name.
- Origin and Sec-Fetch-Site, when the browser sends them, must be the console's own: another site open in the same
  browser cannot make the browser send a request (a cross-site form post or fetch) that the proxy would sign.
- The session cookie, set from the token in the address `ballast dashboard` prints, must match: another user of the
  machine, or a process that can reach the loopback port but did not get the address, is refused. The cookie is
  HttpOnly and SameSite=Strict, so no page script reads it and no other site's request carries it.
"""
from __future__ import annotations

import hmac
import secrets
from http.cookies import CookieError, SimpleCookie

LOOPBACK_NAMES = ("127.0.0.1", "localhost")
SAME_ORIGIN_FETCHES = ("same-origin", "none")  # "none": the user typed the address or opened a bookmark


def new_token() -> str:
    return secrets.token_urlsafe(24)


def cookie_name(port: int) -> str:
    # Cookies are per host, not per port: two consoles on one machine must not overwrite each other's session.
    return f"ballast-console-{port}"


def session_cookie(port: int, token: str) -> str:
    return f"{cookie_name(port)}={token}; Path=/; HttpOnly; SameSite=Strict"


def refusal(headers, port: int) -> str | None:
    """Why a request may not be served at all (None when it may): a foreign Host, Origin or fetch site."""
    hosts = {f"{name}:{port}" for name in LOOPBACK_NAMES}
    host = headers.get("Host")
    if host not in hosts:
        return f"Host {host!r} is not this console's ({' or '.join(sorted(hosts))}); a page of another site cannot use it"
    origin = headers.get("Origin")
    if origin is not None and origin not in {f"http://{name}" for name in hosts}:
        return f"Origin {origin!r} is not this console's; requests from other pages are refused"
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site not in SAME_ORIGIN_FETCHES:
        return f"a {site} request is refused; only the console's own page may call it"
    return None


def has_session(headers, port: int, token: str) -> bool:
    """True when the request carries this console's session cookie."""
    try:
        cookies = SimpleCookie(headers.get("Cookie") or "")
    except CookieError:
        return False
    sent = cookies.get(cookie_name(port))
    return sent is not None and hmac.compare_digest(sent.value.encode(), token.encode())


def is_token(offered: str | None, token: str) -> bool:
    return offered is not None and hmac.compare_digest(offered.encode(), token.encode())
