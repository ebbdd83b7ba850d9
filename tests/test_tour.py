"""The README's tour, run as written: the service on a free port, mail, Sentry, dashboard, digest."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT

SECTION = "## Tour: the running service"


def tour_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bash(script: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def wait_until(check, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the service did not get there in time"
        time.sleep(0.2)


def test_the_readme_tour_works_as_written(tmp_path: Path) -> None:
    start, post, look, tell = tour_blocks()
    # `make run` is `intake run` once the venv exists; the tour's machine has it.
    assert "$(BIN)/intake run" in (ROOT / "Makefile").read_text()
    assert "make run" in start
    port = free_port()
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    config = tmp_path / "examples" / "tour.toml"
    config.write_text(config.read_text() + f"\n[web]\nport = {port}\n")
    env = dict(os.environ)
    env.pop("INTAKE_CONFIG", None)
    env.pop("INTAKE_DATABASE_URL", None)

    # The second terminal's exports hold for every later block typed there.
    exports = "\n".join(line for line in post.splitlines() if line.startswith("export "))

    def here(block: str) -> str:
        return block.replace("8000", str(port))

    def typed(block: str) -> str:
        return exports + "\n" + here(block)

    service = subprocess.Popen(
        ["bash", "-c", here(start).replace("make run", "exec .venv/bin/intake run")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(base))
        posted = bash(here(post), tmp_path, env)
        assert '"stored"' in posted or '"status"' in posted, posted

        def two_incidents() -> bool:
            out = bash(typed(look.splitlines()[0]), tmp_path, env)
            return "INC-1" in out and "INC-2" in out

        wait_until(two_incidents)
        shown = bash(typed(look), tmp_path, env)
        assert "portal" in shown.lower()
        assert "evidence" in shown.lower() or "impact" in shown.lower()
        page = httpx.get(f"{base}/incidents/INC-1", timeout=10)
        assert page.status_code == 200 and "INC-1" in page.text

        told = bash(typed(tell), tmp_path, env)
        assert any(name.endswith((".eml", ".txt")) for name in told.split()), told
        assert "INC-1" in told and "INC-2" in told  # the digest lists both
    finally:
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=30)
    assert service.returncode == 0, output
    assert "stopped" in output


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
