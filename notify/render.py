"""Rendering notifications with Jinja2: sandboxed, strict, HTML escaped, checked at start.

Templates live in `templates/<channel>/<kind>.<part>`: email `subject.txt`,
`txt` and `html`; Telegram `html`; webhook `json`; the digest in
`templates/digest/`. A user folder (`[templates] folder`) is searched first,
so a file there with the same relative name replaces the built-in one.
Autoescape is on for `.html` only; StrictUndefined turns a misspelt variable
into an error instead of an empty string; the sandbox refuses attribute
tricks (`__class__`, `mro`, ...) in user templates.
"""

from __future__ import annotations

import contextlib
import json
import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

BUILTIN = Path(__file__).resolve().parents[1] / "templates"
CHANNELS = ("email", "telegram", "webhook")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


class RenderError(Exception):
    """A template that cannot be rendered; the message names the template and line."""


@dataclass(frozen=True)
class Rendered:
    subject: str = ""
    text: str = ""
    html: str = ""
    json: str = ""


def one_line(value: str, limit: int = 200) -> str:
    """A header-safe line: control characters (CR, LF, ...) become spaces.

    Encoded words (`=?utf-8?q?...=0D=0A...?=`) are decoded first and any left are
    broken up: the stdlib's header folding would otherwise decode one and write
    its CR LF into the message, starting a new header.
    """
    if "=?" in value:
        with contextlib.suppress(ValueError, LookupError, HeaderParseError):
            value = str(make_header(decode_header(value)))
    value = " ".join(_CONTROL.sub(" ", value).split())
    value = value.replace("=?", "=\u2060?")  # WORD JOINER: invisible, and no longer an encoded word
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _tojson(value: Any) -> Markup:
    return Markup(json.dumps(value, ensure_ascii=False))


class Renderer:
    def __init__(self, folder: Path | None = None) -> None:
        loaders = [FileSystemLoader(str(folder))] if folder else []
        loaders.append(FileSystemLoader(str(BUILTIN)))
        self.folder = folder
        self.env = SandboxedEnvironment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["tojson"] = _tojson
        self.env.filters["one_line"] = one_line
        self.env.filters["age"] = _age

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(**context)
        except TemplateSyntaxError as exc:
            raise RenderError(
                f"template {exc.name or name} line {exc.lineno}: {exc.message}"
            ) from exc
        except TemplateNotFound as exc:
            raise RenderError(f"template {name}: not found ({exc.name})") from exc
        except TemplateError as exc:
            raise RenderError(f"template {name} {_where(exc, name)}: {exc}") from exc
        except Exception as exc:
            raise RenderError(
                f"template {name} {_where(exc, name)}: {type(exc).__name__}: {exc}"
            ) from exc

    def exists(self, name: str) -> bool:
        try:
            self.env.get_template(name)
        except TemplateNotFound:
            return False
        except TemplateError:
            return True  # it exists; rendering it will say what is wrong
        return True

    def pick(self, channel: str, kind: str, part: str) -> str:
        """The template for a kind, falling back to the generic update."""
        for stem in (kind, "update"):
            name = f"{channel}/{stem}.{part}"
            if self.exists(name):
                return name
        raise RenderError(f"no template {channel}/{kind}.{part} (nor {channel}/update.{part})")

    def message(self, channel: str, kind: str, context: Mapping[str, Any]) -> Rendered:
        folder = "digest" if kind == "digest" else channel
        prefix = f"{channel}." if kind == "digest" and channel != "email" else ""
        if kind == "digest":
            if channel == "email":
                return Rendered(
                    subject=one_line(self.render("digest/subject.txt", context)),
                    text=self.render("digest/digest.txt", context),
                    html=self.render("digest/digest.html", context),
                )
            name = f"digest/{prefix}digest.{'json' if channel == 'webhook' else 'html'}"
            body = self.render(name, context)
            return Rendered(json=body) if channel == "webhook" else Rendered(html=body)
        if channel == "email":
            return Rendered(
                subject=one_line(self.render(self.pick(folder, kind, "subject.txt"), context)),
                text=self.render(self.pick(folder, kind, "txt"), context),
                html=self.render(self.pick(folder, kind, "html"), context),
            )
        if channel == "telegram":
            return Rendered(html=self.render(self.pick(folder, kind, "html"), context).strip())
        if channel == "webhook":
            body = self.render(self.pick(folder, kind, "json"), context)
            try:
                json.loads(body)
            except ValueError as exc:
                raise RenderError(f"webhook template for {kind} gave invalid JSON: {exc}") from exc
            return Rendered(json=body)
        raise RenderError(f"unknown channel {channel!r}")

    def template_names(self) -> list[str]:
        return sorted(n for n in self.env.list_templates() if n.split("/", 1)[0] in _CHECKED)

    def check(self) -> int:
        """Render every template against a sample context; the first error names it and its line."""
        from notify.samples import sample_context

        names = self.template_names()
        for name in names:
            kind = "digest" if name.startswith("digest/") else name.split("/", 1)[1].split(".")[0]
            self.render(name, sample_context(kind))
            if name.endswith(".json"):
                try:
                    json.loads(self.render(name, sample_context(kind)))
                except ValueError as exc:
                    raise RenderError(f"template {name}: not valid JSON: {exc}") from exc
        return len(names)


_CHECKED = {"email", "telegram", "webhook", "digest"}


def _where(exc: BaseException, name: str) -> str:
    """The template line an error was raised at (Jinja maps its frames back to the file)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(name) or frame.filename.endswith(name.rsplit("/", 1)[-1]):
            return f"line {frame.lineno}"
    return "line ?"


def _age(seconds: Any) -> str:
    seconds = int(seconds or 0)
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"
