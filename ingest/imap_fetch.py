"""UID FETCH of sizes and message bodies, read straight off imapclient's connection.

imapclient (and imaplib beneath it) handle each response line through layers
of pure-Python parsing, which costs more than storing the mail. The two
FETCHes the reader makes have a fixed, simple shape: `* n FETCH (UID u
RFC822.SIZE s)` and `* n FETCH (UID u BODY[] {len}` + the literal + `)`. So
the command is written to the connection imapclient opened (TLS and all) and
its response read back line by line with one regular expression, literals
read whole. Other untagged lines (an unsolicited EXISTS or FLAGS) are skipped:
the reader asks the server again before it idles, so no news is lost.
"""

from __future__ import annotations

import imaplib
import itertools
import re
from collections.abc import Iterable, Iterator

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_LITERAL = re.compile(rb"\{(\d+)\}\r?\n$")
_tags = itertools.count(1)


def uid_set(uids: Iterable[int]) -> str:
    """UIDs as an IMAP set with ranges: 1:200,205,300:310 (short commands for big batches)."""
    ordered = sorted(set(uids))
    parts: list[str] = []
    start = prev = None
    for uid in ordered:
        if prev is not None and uid == prev + 1:
            prev = uid
            continue
        if start is not None:
            parts.append(f"{start}:{prev}" if start != prev else str(start))
        start = prev = uid
    if start is not None:
        parts.append(f"{start}:{prev}" if start != prev else str(start))
    return ",".join(parts)


def _responses(client: IMAPClient, command: str) -> Iterator[tuple[bytes, bytes | None]]:
    """(response line, its literal or None) until the tagged completion, which must be OK."""
    imap = client._imap
    tag = b"IX%d" % next(_tags)  # our own tags: imaplib's counter is left alone
    imap.send(tag + b" " + command.encode("ascii") + b"\r\n")
    while True:
        line = imap.readline()
        if not line:
            raise imaplib.IMAP4.abort(f"connection closed during {command.split()[0:3]}")
        if line.startswith(tag + b" "):
            status = line[len(tag) + 1 :]
            if not status.startswith(b"OK"):
                text = status.decode("ascii", "replace").strip()
                raise IMAPClientError(f"{command} failed: {text}")
            return
        literal = None
        match = _LITERAL.search(line)
        while match is not None:
            chunk = imap.read(int(match.group(1)))
            literal = chunk if literal is None else literal
            tail = imap.readline()
            line = line + tail
            match = _LITERAL.search(tail)
        yield line, literal


def sizes_from(client: IMAPClient, first_uid: int) -> dict[int, int]:
    """RFC822.SIZE of every message with UID >= first_uid."""
    sizes: dict[int, int] = {}
    for line, _ in _responses(client, f"UID FETCH {first_uid}:* (RFC822.SIZE)"):
        uid, size = _UID.search(line), _SIZE.search(line)
        if uid and size:
            sizes[int(uid.group(1))] = int(size.group(1))
    # "n:*" always names the newest message, even when its UID is below n.
    return {uid: size for uid, size in sizes.items() if uid >= first_uid}


def bodies(client: IMAPClient, uids: list[int], part: str = "") -> dict[int, bytes]:
    """BODY.PEEK[part] of each UID (part "" is the whole message, "HEADER" its header)."""
    if not uids:
        return {}
    wanted = set(uids)
    found: dict[int, bytes] = {}
    for line, literal in _responses(client, f"UID FETCH {uid_set(uids)} (UID BODY.PEEK[{part}])"):
        match = _UID.search(line)
        if literal is not None and match is not None and int(match.group(1)) in wanted:
            found[int(match.group(1))] = literal
    return found
