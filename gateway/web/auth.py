"""Operators signing in: the login form, session cookies, bearer tokens, CSRF and roles."""

from __future__ import annotations

import html
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ..auth import (
    DUMMY_HASH,
    MIN_PASSWORD_LENGTH,
    Permission,
    check_password_strength,
    digest,
    may,
    new_secret,
    same,
)
from ..limits import retry_after_header
from ..passwords import Busy
from ..record.database import utcnow
from .forwarding import forwarded_operator
from .keys import ACCOUNTS, DATABASE, LIMITS, LOGIN_LOCKOUT, OPERATOR, PASSWORDS, SETTINGS
from .security import Handler, client_address, json_error

log = logging.getLogger(__name__)

SESSION_COOKIE = "scenelink_session"
LOGIN_CSRF_COOKIE = "scenelink_login_csrf"
SESSION_HOURS = 12
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PASSWORD_PAGE = "/account/password"
OPERATOR_PAGES = ("/console", "/dispatch", "/admin", PASSWORD_PAGE)
HOME = {"dispatcher": "/dispatch"}

routes = web.RouteTableDef()


def operator(request: web.Request) -> dict[str, Any]:
    return request[OPERATOR]


def require(request: web.Request, permission: Permission) -> dict[str, Any]:
    """The signed-in operator, if their role grants ``permission``; otherwise 403."""
    who = request[OPERATOR]
    if not may(who["role"], permission):
        raise web.HTTPForbidden(
            text='{"error": "forbidden", "message": "your role does not allow this"}',
            content_type="application/json",
        )
    return who


async def _identify(request: web.Request) -> dict[str, Any] | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Node "):
        # Another node of this gateway, passing on a request of an operator it authenticated.
        return forwarded_operator(request)
    if header.startswith("Bearer "):
        token = await request.app[ACCOUNTS].token_by_hash(digest(header[7:].strip()))
        if token:
            return {"name": f"token:{token['name']}", "role": token["role"], "via": "token"}
        return None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session = await request.app[ACCOUNTS].web_session(digest(cookie))
        if session:
            return {
                "name": session["username"], "role": session["role"], "via": "session",
                "csrf": session["csrf_token"], "session_hash": digest(cookie),
                "must_change_password": bool(session["must_change_password"]),
            }
    return None


async def still_signed_in(request: web.Request) -> bool:
    """Whether the session or token that made ``request`` is still valid (for long-lived streams)."""
    return await _identify(request) is not None


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.host


@web.middleware
async def operators_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every ``/api/`` call, map tile and operator page needs a signed-in operator or a bearer token."""
    path = request.path
    is_api = path.startswith(("/api/", "/tiles/"))
    is_page = path in OPERATOR_PAGES
    if not (is_api or is_page):
        return await handler(request)
    who = await _identify(request)
    if who is None:
        if is_page:
            raise web.HTTPSeeOther(f"/login?next={path}")
        return json_error(401, "unauthenticated", "sign in, or send a bearer token")
    if who["via"] == "session":
        # Pages check the CSRF field of their own forms; the API wants the header.
        if is_api and request.method not in SAFE_METHODS:
            sent = request.headers.get("X-CSRF-Token", "")
            if not sent or not same(sent, who["csrf"]):
                return json_error(403, "csrf", "missing or wrong X-CSRF-Token header")
        # A WebSocket handshake carries cookies from any site; only our own pages may open one.
        if request.headers.get("Upgrade", "").lower() == "websocket" and not _same_origin(request):
            return json_error(403, "origin", "cross-origin WebSocket refused")
    if who.get("must_change_password") and path not in (PASSWORD_PAGE, "/api/me"):
        # A generated first-start password opens one page only: the one to replace it.
        if is_page:
            raise web.HTTPSeeOther(PASSWORD_PAGE)
        return json_error(403, "password_change_required", "choose a new password first")
    request[OPERATOR] = who
    return await handler(request)


_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - scenelink</title><link rel="stylesheet" href="/static/login/login.css"></head>
<body><main class="login">
<h1>scenelink</h1><p class="sub">Control room sign-in</p>
{error}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="next" value="{next}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></main></body></html>"""


def _safe_next(value: str | None) -> str:
    """``value`` if it is a path on this gateway, else "".

    An open redirect would make a phishing page look like ours. Browsers drop tabs and line
    breaks from URLs and read a backslash as a slash, so ``/\t/evil.example`` or ``/\\evil``
    would lead to another host: any control character, space or backslash refuses the value.
    """
    if not value or not value.startswith("/") or value.startswith("//"):
        return ""
    if "\\" in value or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        return ""
    return value


def _login_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    csrf = new_secret(16)
    body = _LOGIN_PAGE.format(
        csrf=csrf,
        next=html.escape(_safe_next(request.query.get("next"))),
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
    )
    response = web.Response(text=body, content_type="text/html", status=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="Strict", secure=_secure(request), path="/login"
    )
    return response


def _secure(request: web.Request) -> bool:
    return request.app[SETTINGS].public_url.startswith("https://")


@routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    return _login_page(request)


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not same(cookie, str(form.get("csrf", ""))):
        return _login_page(request, "Your sign-in form expired. Please try again.", 403)
    address = client_address(request)
    limits = request.app[LIMITS]  # counted across every node
    wait = await limits.retry_after(f"login:{address}")
    if wait:
        refused = _login_page(request, "Too many failed sign-ins from this address. Try again shortly.", 429)
        refused.headers["Retry-After"] = retry_after_header(wait)
        return refused
    username = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))[:1024]
    database = request.app[DATABASE]
    # Locked out (too many failures of this account, or from this address): refused before any
    # password is checked, the right one included.
    lockout = request.app[LOGIN_LOCKOUT]
    keys = (f"account:{username.casefold()}", f"address:{address}")
    locked = max([await limits.locked_for(key) for key in keys])
    if locked:
        refused = _login_page(request, "Too many failed sign-ins. Sign-in is locked for a while.", 429)
        refused.headers["Retry-After"] = retry_after_header(locked)
        return refused
    accounts = request.app[ACCOUNTS]
    found = await accounts.operator_by_name(username)
    stored = found["password_hash"] if found and found["disabled_at"] is None else DUMMY_HASH
    try:
        ok = await request.app[PASSWORDS].verify(stored, password)
    except Busy:
        busy = _login_page(request, "The gateway is busy signing others in. Try again in a moment.", 503)
        busy.headers["Retry-After"] = "1"
        return busy
    if not (ok and found and found["disabled_at"] is None):
        await limits.fail(f"login:{address}")
        await database.record_action(username or "?", "login.failed", address=address)
        log.warning("failed sign-in for %r from %s", username, address)
        for key in keys:
            if await limits.lock_fail(key):
                await database.record_action(
                    "gateway", "login.locked", locked=key.partition(":")[0], username=username or "?",
                    address=address, seconds=lockout.duration,
                )
                log.warning("sign-in locked for %s after %d failures", key, lockout.limit)
        return _login_page(request, "Wrong username or password.", 401)
    await limits.succeed(f"login:{address}")
    for key in keys:
        await limits.lock_succeed(key)
    session_id = new_secret(32)
    await accounts.add_web_session(
        digest(session_id), found["id"], new_secret(24), utcnow() + timedelta(hours=SESSION_HOURS)
    )
    await database.record_action(username, "login", address=address)
    target = _safe_next(str(form.get("next", ""))) or HOME.get(found["role"], "/console")
    response = web.Response(status=303, headers={"Location": target})
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, samesite="Strict", secure=_secure(request),
        path="/", max_age=SESSION_HOURS * 3600,
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts = request.app[ACCOUNTS]
        session = await accounts.web_session(digest(cookie))
        form = await request.post()
        sent = request.headers.get("X-CSRF-Token") or str(form.get("csrf", ""))
        if session and not same(sent, session["csrf_token"]):
            # Another site cannot sign the operator out, and must not be told it did.
            return web.Response(status=403, text="Sign out from the gateway's own pages.")
        if session:
            await accounts.end_web_session(digest(cookie))
            await request.app[DATABASE].record_action(session["username"], "logout")
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


_PASSWORD_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Choose a password - scenelink</title><link rel="stylesheet" href="/static/login/login.css"></head>
<body><main class="login">
<h1>Choose a new password</h1><p class="sub">Signed in as {username}. At least {minimum} characters.</p>
{error}
<form method="post" action="/account/password">
<input type="hidden" name="csrf" value="{csrf}">
<label for="current">Current password</label>
<input id="current" name="current" type="password" autocomplete="current-password" required>
<label for="new">New password</label>
<input id="new" name="new" type="password" autocomplete="new-password" required minlength="{minimum}">
<label for="again">New password again</label>
<input id="again" name="again" type="password" autocomplete="new-password" required minlength="{minimum}">
<button type="submit">Save password</button>
</form></main></body></html>"""


def _password_page(who: dict[str, Any], error: str = "", status: int = 200) -> web.Response:
    body = _PASSWORD_PAGE.format(
        username=html.escape(who["name"]), csrf=who["csrf"], minimum=MIN_PASSWORD_LENGTH,
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
    )
    return web.Response(text=body, content_type="text/html", status=status)


@routes.get("/account/password")
async def password_page(request: web.Request) -> web.Response:
    _session_only(request)
    return _password_page(request[OPERATOR])


def _session_only(request: web.Request) -> None:
    """The password page belongs to a signed-in operator; an API token has no password."""
    if request[OPERATOR]["via"] != "session":
        raise web.HTTPForbidden(
            text='{"error": "session_required", "message": "sign in to change a password; an API token has none"}',
            content_type="application/json",
        )


@routes.post("/account/password")
async def change_password(request: web.Request) -> web.Response:
    _session_only(request)
    who = request[OPERATOR]
    form = await request.post()
    if not same(str(form.get("csrf", "")), who["csrf"]):
        return _password_page(who, "Your form expired. Please try again.", 403)
    accounts = request.app[ACCOUNTS]
    passwords = request.app[PASSWORDS]
    found = await accounts.operator_by_name(who["name"])
    current = str(form.get("current", ""))[:1024]
    try:
        if not found or not await passwords.verify(found["password_hash"], current):
            return _password_page(who, "The current password is wrong.", 401)
        new = str(form.get("new", ""))[:1024]
        if new != str(form.get("again", ""))[:1024]:
            return _password_page(who, "The new passwords differ.", 400)
        if new == current:
            # Also refuses keeping a one-time password (after a reset or the first start).
            return _password_page(who, "Choose a password different from the current one.", 400)
        try:
            check_password_strength(new)
        except ValueError as exc:
            return _password_page(who, str(exc).capitalize() + ".", 400)
        new_hash = await passwords.hash(new)
    except Busy:
        return _password_page(who, "The gateway is busy. Try again in a moment.", 503)
    # Every other session of this operator ends: whoever else knew the old password is signed out.
    await accounts.change_password(who["name"], new_hash, keep_session=who.get("session_hash"))
    return web.Response(status=303, headers={"Location": HOME.get(who["role"], "/console")})
