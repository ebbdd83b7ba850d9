"""Turn a stored raw message back into candidate reports, by its source."""

from __future__ import annotations

from core.models import RawMessage
from core.report import ParseError, Report
from ingest.alertmanager import parse_alert
from ingest.email_parse import parse_email
from ingest.events import parse_event
from ingest.sentry import parse_sentry
from ingest.telegram import parse_update


def parse_raw(raw: RawMessage) -> list[Report]:
    """The pipeline's parse stage; raises ParseError for input it cannot read."""
    if raw.source == "email":
        return [parse_email(raw.body)]
    if raw.source == "sentry":
        resource = raw.meta.get("resource") if isinstance(raw.meta, dict) else None
        report = parse_sentry(raw.body, resource=resource)
        return [report] if report else []
    if raw.source == "telegram":
        update = parse_update(raw.body)
        # A reply to one of the bot's cards answers the card's report (set when stored).
        answers = raw.meta.get("answers_report") if isinstance(raw.meta, dict) else None
        if update and isinstance(answers, str) and answers:
            update.in_reply_to, update.references = answers, [answers]
        return [update] if update else []
    if raw.source == "alertmanager":
        return [parse_alert(raw.body)]
    if raw.source == "events":
        dedup_key = raw.meta.get("dedup_key") if isinstance(raw.meta, dict) else None
        return [parse_event(raw.body, dedup_key=dedup_key)]
    raise ParseError(f"no parser for source {raw.source!r}")
