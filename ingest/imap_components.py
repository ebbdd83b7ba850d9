"""What email intake adds to `intake run`: a poller per `[[mailbox]]` and the Maildir drop folder.

Under `intake run` a pipeline worker (core.worker) triages stored input, so
these components only ring its doorbell after each commit; new mail becomes
an incident within the worker's next round instead of a second later.
"""

from __future__ import annotations

from core.runtime import Runtime
from core.service import Component
from core.worker import WAKEUP
from ingest.imap_poller import MailboxPoller
from ingest.maildir_watch import MaildirWatch


def _ring(_count: int) -> None:
    WAKEUP.ring()


def components(rt: Runtime) -> list[Component]:
    """One poller per configured mailbox, plus the local drop folder (the embedded default)."""
    found: list[Component] = [
        MailboxPoller(rt, box, on_stored=_ring) for box in rt.config.email.mailboxes
    ]
    found.append(MaildirWatch(rt, on_stored=_ring))
    return found
