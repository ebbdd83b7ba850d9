"""Who gets in: open on loopback, refusal beyond it without users, login, cookies, API tokens."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from core.cli import main
from core.config import parse_config
from core.config_errors import ConfigError
from core.web.app import create_app
from core.web.auth import WebStartRefused, check_bind, load_auth
from tests.web_helpers import API_TOKEN, PASSWORD, app_for, client, login, runtime, web_config

pytestmark = pytest.mark.anyio


async def test_open_on_loopback_without_users(db_url: str, tmp_path: Path) -> None:
    rt = runtime(db_url, tmp_path)
    async with client(app_for(rt)) as c:
        page = await c.get("/incidents")
        assert page.status_code == 200 and "web:local" in page.text
        assert (await c.get("/api/v1/incidents")).status_code == 200
        assert (await c.get("/login")).headers["location"] == "/incidents"
    # A request that reaches the open dashboard from another machine is refused.
    far = httpx.ASGITransport(app=app_for(rt), client=("192.0.2.7", 40000))
    async with httpx.AsyncClient(transport=far, base_url="http://127.0.0.1") as c:
        assert (await c.get("/incidents")).status_code == 403
        assert (await c.get("/api/v1/incidents")).status_code == 401
        assert (await c.get("/healthz")).status_code == 200


def test_refuses_to_start_beyond_loopback_without_users(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "192.0.2.10", "::"):
        with pytest.raises(WebStartRefused, match="not loopback"):
            check_bind(web_config(host=host))
    with pytest.raises(WebStartRefused, match="not loopback"):
        check_bind(web_config(), host="0.0.0.0")  # the address the server really binds
    # With users but no session key it refuses too; with both it starts.
    with pytest.raises(WebStartRefused, match="secret_key"):
        check_bind(web_config(users=True, host="0.0.0.0"))
    key = tmp_path / "key"
    key.write_text("k" * 40)
    auth = check_bind(web_config(users=True, host="0.0.0.0", secret_key_file=key))
    assert not auth.open and "ana" in auth.users


def test_app_build_refuses_beyond_loopback(db_url: str, tmp_path: Path) -> None:
    rt = runtime(db_url, tmp_path, web_config(host="0.0.0.0"))
    with pytest.raises(WebStartRefused):
        app_for(rt)
    with pytest.raises(WebStartRefused):
        create_app(rt)  # every provider, as `intake run` builds it


async def test_login_logout_and_cookie_flags(db_url: str, tmp_path: Path) -> None:
    rt = runtime(db_url, tmp_path, web_config(users=True, base_url="https://intake.example"))
    async with client(app_for(rt), base_url="https://127.0.0.1") as c:
        away = await c.get("/triage")
        assert away.status_code == 303 and away.headers["location"] == "/login?next=/triage"
        wrong = await login(c, password="not it")
        assert wrong.headers["location"].startswith("/login")
        assert "Wrong name or password" in (await c.get(wrong.headers["location"])).text
        assert (await c.get("/triage")).status_code == 303
        done = await login(c)
        assert done.status_code == 303 and done.headers["location"] == "/triage"
        cookie = done.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie
        page = await c.get("/triage")
        assert page.status_code == 200 and "web:ana" in page.text
        # The login page only sends people to this site.
        page = await c.get("/login")
        from tests.web_helpers import csrf_of

        token = csrf_of(page.text)
        evil = await c.post(
            "/login",
            data={"csrf": token, "name": "ana", "password": PASSWORD, "next": "//evil.example/"},
        )
        assert evil.headers["location"] == "/"
        page = await c.get("/incidents")
        bye = await c.post("/logout", data={"csrf": csrf_of(page.text)})
        assert bye.headers["location"] == "/login"
        assert (await c.get("/incidents")).status_code == 303


async def test_cookie_not_secure_over_plain_http(db_url: str, tmp_path: Path) -> None:
    rt = runtime(db_url, tmp_path, web_config(users=True))
    async with client(app_for(rt)) as c:
        cookie = (await login(c)).headers["set-cookie"].lower()
        assert "httponly" in cookie and "secure" not in cookie


async def test_api_tokens_required_when_auth_is_on(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_API_TOKENS", f"ci-bot={API_TOKEN}")
    rt = runtime(db_url, tmp_path, web_config(users=True, api_tokens_env="TEST_API_TOKENS"))
    async with client(app_for(rt)) as c:
        bare = await c.get("/api/v1/incidents")
        assert bare.status_code == 401 and "bearer" in bare.json()["error"]
        wrong = await c.get("/api/v1/incidents", headers={"Authorization": "Bearer " + "x" * 30})
        assert wrong.status_code == 401
        good = {"Authorization": f"Bearer {API_TOKEN}"}
        assert (await c.get("/api/v1/incidents", headers=good)).status_code == 200
        made = await c.post("/api/v1/incidents", json={"title": "Disk full"}, headers=good)
        assert made.status_code == 201
        detail = await c.get(f"/api/v1/incidents/{made.json()['ref']}", headers=good)
        assert detail.json()["timeline"][0]["actor"] == "api:ci-bot"
        # A logged-in browser session is not an API credential, and metrics need a token.
        await login(c)
        assert (await c.get("/api/v1/incidents")).status_code == 401
        assert (await c.get("/metrics")).status_code == 401
        assert (await c.get("/metrics", headers=good)).status_code == 200


def test_web_config_is_checked(tmp_path: Path) -> None:
    where = tmp_path / "intake.toml"
    bad = [
        ({"web": {"port": "80"}}, "port"),
        ({"web": {"bogus": 1}}, "unknown key 'bogus'"),
        ({"web": {"users": [{"name": "ana", "password_hash": "plain"}]}}, "not an argon2 hash"),
        ({"web": {"users": [{"name": "ana"}]}}, "needs exactly one of"),
        ({"web": {"base_url": "intake.example"}}, "http"),
        ({"web": {"secure_cookies": "yes"}}, "secure_cookies"),
    ]
    for data, message in bad:
        with pytest.raises(ConfigError, match=message) as caught:
            parse_config(data, where)
        assert str(where) in str(caught.value)
    good = parse_config(
        {
            "web": {
                "host": "0.0.0.0",
                "port": 9000,
                "users": [{"name": "a", "password_hash_env": "H"}],
            }
        }
    )
    assert good.web.port == 9000 and good.web.users[0].password_hash_env == "H"


def test_secrets_from_env_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.config_web import WebUser

    hashed = CliRunner().invoke(main, ["web", "hash-password", "--stdin"], input=PASSWORD + "\n")
    assert hashed.exit_code == 0 and hashed.output.startswith("$argon2id$")
    (tmp_path / "hash").write_text(hashed.output)
    (tmp_path / "tokens").write_text(f"one={API_TOKEN}\n{'t' * 20}\n")
    monkeypatch.setenv("WEB_KEY", "s" * 40)
    config = web_config(
        host="0.0.0.0",
        secret_key_env="WEB_KEY",
        api_tokens_file=tmp_path / "tokens",
    )
    from dataclasses import replace

    config = replace(config, users=(WebUser("bo", password_hash_file=tmp_path / "hash"),))
    auth = load_auth(config)
    assert auth.verify_password("bo", PASSWORD) and not auth.verify_password("bo", "nope")
    assert not auth.verify_password("nobody", PASSWORD)
    assert auth.token_name(API_TOKEN) == "one" and auth.token_name("t" * 20) == "token-2"
    monkeypatch.delenv("WEB_KEY")
    with pytest.raises(WebStartRefused, match="WEB_KEY is not set"):
        load_auth(config)
    short = CliRunner().invoke(main, ["web", "hash-password", "--stdin"], input="short\n")
    assert short.exit_code == 2


def test_generated_session_key_is_kept(tmp_path: Path) -> None:
    from dataclasses import replace

    config = replace(web_config(), generated_secret_file=tmp_path / "var" / "web-secret")
    first = load_auth(config).secret_key
    assert len(first) >= 32 and load_auth(config).secret_key == first
    assert (tmp_path / "var" / "web-secret").stat().st_mode & 0o777 == 0o600
