"""Facts from Sentry's alert emails: level, environment, project, issue link and id.

Sentry sends X-Sentry-Logger, X-Sentry-Logger-Level, X-Sentry-Project and X-Sentry-Reply-To
(whose local part starts with the issue id) and links the issue as
`https://<org>.sentry.io/issues/<id>/` or `.../organizations/<org>/issues/<id>/`; the body
lists tags as `environment = production` (text) or a two-column table (HTML).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SENTRY_SENDER = re.compile(r"@(?:[\w-]+\.){0,5}(?:sentry\.io|getsentry\.com)$")
_URL = re.compile(r"https?://[^\s<>\"'()\[\]]{1,500}")
_ISSUE = re.compile(r"/issues/(\d{1,20})(?:/|$|\?)")
_REPLY_TO_ID = re.compile(r"^<?(\d{1,20})[+:.]")
_TAG_LINE = re.compile(
    r"^[ \t*•-]{0,4}(level|environment|project)(?:[ \t]+|[ \t]*[=:|][ \t]*)([\w.:/-]{1,80})[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_LEVELS = frozenset({"fatal", "error", "warning", "info", "debug", "critical"})


def is_sentry_email(headers: Mapping[str, str], sender: str) -> bool:
    """Any X-Sentry-* header, or a sentry.io / getsentry.com sender address."""
    return any(name.startswith("x-sentry-") for name in headers) or bool(
        _SENTRY_SENDER.search(sender)
    )


def sentry_facts(headers: Mapping[str, str], text: str, html: str = "") -> dict[str, Any]:
    """`level`, `environment`, `project`, `url` and `issue_id` where recoverable."""
    facts: dict[str, Any] = {}
    level = headers.get("x-sentry-logger-level", "").strip().lower()
    if level:
        facts["level"] = level
    project = headers.get("x-sentry-project", "").strip()
    if project:
        facts["project"] = project
    environment = headers.get("x-sentry-environment", "").strip()
    if environment:
        facts["environment"] = environment

    for match in _TAG_LINE.finditer(text[:50_000]):
        key, value = match.group(1).lower(), match.group(2)
        if key == "level" and value.lower() not in _LEVELS:
            continue
        facts.setdefault(key, value.lower() if key == "level" else value)

    for source in (text[:50_000], html[:200_000]):
        for url in _URL.findall(source):
            issue = _ISSUE.search(url)
            if issue is not None:
                facts.setdefault("url", url.rstrip(".,;"))
                facts.setdefault("issue_id", issue.group(1))
                break
        if "issue_id" in facts:
            break
    if "issue_id" not in facts:
        reply_to = _REPLY_TO_ID.match(headers.get("x-sentry-reply-to", "").strip())
        if reply_to is not None:
            facts["issue_id"] = reply_to.group(1)
    return facts
