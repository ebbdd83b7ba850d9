"""What email intake adds to `intake run`: a poller per `[[mailbox]]`, else the Maildir drop folder.

After each commit a component rings the pipeline worker's doorbell
(`core.worker.WAKEUP`), as the webhooks and the Telegram bot do, so new mail
becomes a triaged, grouped report at once while one worker per process runs
the pipeline (taking SQLite write turns with the intake). In a poller-only
process the workers elsewhere find the mail on their next poll.
"""

from __future__ import annotations

from core.runtime import Runtime
from core.service import Component
from core.worker import WAKEUP
from ingest.imap_poller import MailboxPoller
from ingest.maildir_watch import MaildirWatch


def _wake(_count: int) -> None:
    WAKEUP.ring()


def components(rt: Runtime) -> list[Component]:
    """The configured mailboxes' pollers; with none, the local drop folder (embedded default)."""
    if rt.config.email.mailboxes:
        return [MailboxPoller(rt, box, on_stored=_wake) for box in rt.config.email.mailboxes]
    return [MaildirWatch(rt, on_stored=_wake)]
