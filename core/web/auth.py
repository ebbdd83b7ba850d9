"""Who may use the dashboard and the API: open on loopback, else users with argon2 hashes.

Bound to loopback with no users configured, the dashboard runs open (the
person is `web:local`). Bound anywhere else it refuses to start without
users. Pages use a signed session cookie (HttpOnly, SameSite=Lax, Secure
over https) and a per-session CSRF token checked on every POST; the REST API
takes bearer tokens. Webhooks are not behind any of this: they keep their
own credentials.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from core.config_secrets import Secret, SecretError
from core.config_web import WebConfig

SESSION_COOKIE = "intake_session"
SESSION_MAX_AGE = 12 * 3600  # a working day; then log in again
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Checked when the name is unknown, so a wrong name costs as long as a wrong
    # password. Made on first use: hashing costs ~0.25 s, too much for every command.
    return _HASHER.hash(secrets.token_urlsafe(16))


class WebStartRefused(Exception):
    """The web app must not start with this configuration (the message says why)."""


@dataclass(frozen=True)
class Auth:
    open: bool  # loopback and no users: anyone who can reach the port is the local person
    users: dict[str, str] = field(default_factory=dict)  # name -> argon2 hash
    tokens: dict[str, str] = field(default_factory=dict)  # token -> name
    secret_key: str = ""
    secure_cookies: bool = False

    def verify_password(self, name: str, password: str) -> bool:
        stored = self.users.get(name)
        try:
            return bool(_HASHER.verify(stored or _dummy_hash(), password)) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def token_name(self, token: str) -> str | None:
        found = None
        for known, name in self.tokens.items():  # compare with every token, in constant time
            if hmac.compare_digest(known.encode(), token.encode()):
                found = name
        return found


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_bind(config: WebConfig, host: str | None = None) -> Auth:
    """What the server start calls (with the address it really binds, if it differs from
    config): the auth to use, or WebStartRefused saying what is missing."""
    return load_auth(config if host is None else replace(config, host=host))


def load_auth(config: WebConfig) -> Auth:
    users = {user.name: _secret(user.password_hash, user.password_hash_env,
                                user.password_hash_file, f"user {user.name!r} password hash")
             for user in config.users}  # fmt: skip
    for name, value in users.items():
        if not value.startswith("$argon2"):
            raise WebStartRefused(f"[web] user {name!r}: the password hash is not an argon2 hash")
    loopback = is_loopback(config.host)
    if not users and not loopback:
        raise WebStartRefused(
            f"[web] host is {config.host!r}, which is not loopback, and no [web] users are "
            "configured: refusing to serve the dashboard without a login. Add users "
            "(`intake web hash-password` makes a hash) or bind to 127.0.0.1."
        )
    return Auth(
        open=not users,
        users=users,
        tokens=_tokens(config),
        secret_key=_secret_key(config, loopback),
        secure_cookies=config.cookies_secure,
    )


def _secret(inline: str | None, env: str | None, path: Path | None, what: str) -> str:
    if inline:
        return inline
    if not (env or path):
        raise WebStartRefused(f"[web] {what} is not configured")
    try:
        return Secret(env=env or None, file=None if env else path, where=f"[web] {what}").read()
    except SecretError as exc:
        raise WebStartRefused(str(exc)) from exc


def _tokens(config: WebConfig) -> dict[str, str]:
    if not (config.api_tokens_env or config.api_tokens_file):
        return {}
    text = _secret(None, config.api_tokens_env, config.api_tokens_file, "api tokens")
    tokens: dict[str, str] = {}
    items = [p.strip() for line in text.splitlines() for p in line.split(",") if p.strip()]
    for index, item in enumerate(items, start=1):
        name, _, token = item.rpartition("=") if "=" in item else ("", "", item)
        if len(token) < 16:
            raise WebStartRefused(f"[web] api token {index} is shorter than 16 characters")
        tokens[token] = name.strip() or f"token-{index}"
    return tokens


def _secret_key(config: WebConfig, loopback: bool) -> str:
    if config.secret_key_env or config.secret_key_file:
        key = _secret(None, config.secret_key_env, config.secret_key_file, "session secret key")
        if len(key) < 32:
            raise WebStartRefused("[web] session secret key is shorter than 32 characters")
        return key
    if not loopback:
        raise WebStartRefused(
            "[web] serving beyond loopback needs secret_key_env or secret_key_file for sessions"
        )
    return _generated_key(config.generated_secret_file)


def _generated_key(path: Path) -> str:
    """A key made once and kept, so sessions survive restarts of a local service."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key


def session_middleware(auth: Auth) -> list[Middleware]:
    return [
        Middleware(
            SessionMiddleware,
            secret_key=auth.secret_key,
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE,
            same_site="lax",
            https_only=auth.secure_cookies,
        )
    ]


def from_loopback(request: Request) -> bool:
    """Did the request come from this machine? Open mode answers nobody else, even when a
    server was started on another address than the config says."""
    client = request.client
    return client is not None and is_loopback(client.host)


OPEN_REFUSED = (
    "this intake runs without a login and answers only on loopback; "
    "configure [web] users to serve other machines"
)


def person(request: Request, auth: Auth) -> str | None:
    """The logged-in person's actor name, or None."""
    if auth.open:
        return "web:local" if from_loopback(request) else None
    name = request.session.get("user")
    return f"web:{name}" if isinstance(name, str) and name in auth.users else None


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, submitted: object) -> bool:
    expected = request.session.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(submitted, str)
        and hmac.compare_digest(expected.encode(), submitted.encode())
    )


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme) is a place to go after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


Handler = Callable[[Request, str], Awaitable[Response]]


def login_required(auth: Auth, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """GET pages: send a stranger to the login page; POSTs also need the CSRF token."""

    async def endpoint(request: Request) -> Response:
        if auth.open and not from_loopback(request):
            return PlainTextResponse(OPEN_REFUSED, status_code=403)
        actor = person(request, auth)
        if request.method == "POST":
            if actor is None:
                return PlainTextResponse("log in first", status_code=403)
            form = await request.form()
            if not csrf_ok(request, form.get("csrf")):
                return PlainTextResponse(
                    "the form's CSRF token is missing or wrong: reload the page and try again",
                    status_code=403,
                )
            return await handler(request, actor)
        if actor is None:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return await handler(request, actor)

    return endpoint


def bearer_actor(request: Request, auth: Auth) -> str | None:
    """The API caller: a bearer token's name; anyone when open with no tokens configured."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        name = auth.token_name(token.strip())
        return f"api:{name}" if name else None
    if auth.open and not auth.tokens and from_loopback(request):
        return "api:local"
    return None
