"""What email intake adds to `intake run`: a poller per `[[mailbox]]`, else the Maildir drop folder.

Each component runs the pipeline itself right after a commit (in its own
thread), so new mail becomes a triaged, grouped report within a second
whether or not a pipeline worker runs in the same process; the claim is FOR
UPDATE SKIP LOCKED (one writer at a time on SQLite), so a worker running too
never handles the same message twice.
"""

from __future__ import annotations

from core.runtime import Runtime
from core.service import Component
from ingest.imap_poller import MailboxPoller, pipeline_waker
from ingest.maildir_watch import MaildirWatch


def components(rt: Runtime) -> list[Component]:
    """The configured mailboxes' pollers; with none, the local drop folder (embedded default)."""
    wake = pipeline_waker(rt)
    if rt.config.email.mailboxes:
        return [MailboxPoller(rt, box, on_stored=wake) for box in rt.config.email.mailboxes]
    return [MaildirWatch(rt, on_stored=wake)]
