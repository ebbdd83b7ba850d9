"""Templates: user overrides by file name, refused at start with name and line, escaping, sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from notify.render import Renderer, RenderError
from notify.samples import sample_context


def test_builtin_templates_all_render() -> None:
    assert Renderer().check() > 30


def test_user_folder_overrides_by_file_name(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "declared.subject.txt").write_text(
        "NEW {{ incident.ref }} {{ incident.severity }}"
    )
    renderer = Renderer(tmp_path)
    renderer.check()
    message = renderer.message("email", "declared", sample_context("declared"))
    assert message.subject == "NEW INC-42 SEV2"
    assert "Incident declared" in message.text  # the other parts stay built-in


def test_broken_template_is_refused_naming_template_and_line(tmp_path: Path) -> None:
    (tmp_path / "telegram").mkdir()
    (tmp_path / "telegram" / "resolved.html").write_text(
        "<b>ok</b>\n{{ incident.ref }}\n{% if %}\n"
    )
    with pytest.raises(RenderError, match=r"telegram/resolved\.html line 3"):
        Renderer(tmp_path).check()
    (tmp_path / "telegram" / "resolved.html").write_text("ok\n\n{{ incident.no_such_field }}\n")
    with pytest.raises(RenderError, match=r"telegram/resolved\.html line 3.*no_such_field"):
        Renderer(tmp_path).check()


def test_html_is_escaped_text_is_not() -> None:
    context = sample_context("update_posted")
    context["incident"]["title"] = "<script>alert(1)</script>"
    context["update"] = {"text": "<img src=x onerror=alert(1)>", "at": "2026-01-05T09:40:00"}
    renderer = Renderer()
    mail = renderer.message("email", "update_posted", context)
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html
    assert "<img" not in mail.html and "&lt;img" in mail.html
    assert "<script>alert(1)</script>" in mail.text
    telegram = renderer.message("telegram", "update_posted", context)
    assert "<script>" not in telegram.html and "&lt;img" in telegram.html


def test_sandbox_blocks_attribute_tricks(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "declared.txt").write_text(
        "{{ incident.ref.__class__.__mro__[1].__subclasses__() }}\n"
    )
    with pytest.raises(RenderError, match=r"email/declared\.txt"):
        Renderer(tmp_path).check()
