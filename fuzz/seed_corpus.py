"""Copy the mails of ../shared/corpora (and ../shared/examples) into a folder, to seed the
atheris corpus: `python fuzz/seed_corpus.py DIR`. Files are named by content, so the same
mail found twice is one seed."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPORA = SHARED / "corpora"
MAIL_FOLDERS = [
    "library-fuzzers/corp-email",
    "flanker/tests/fixtures/messages",
    "mail-parser/tests/mails",
    "set-of-emails",
    "talon/tests/fixtures",
    "email-reply-parser/test/emails",
]
NOT_MAIL = {".md", ".txt", ".py", ".json", ".toml", ".go", ".yml", ".yaml", ".html"}
# make fuzz passes -max_len=100000: larger seeds would be cut, and only slow the start.
MAX_SEED_BYTES = 100_000


def seed(target: Path) -> int:
    """Copy every corpus mail into `target`, named by content (duplicates collapse)."""
    target.mkdir(parents=True, exist_ok=True)
    sources = [SHARED / "examples", *(CORPORA / f for f in MAIL_FOLDERS)]
    count = 0
    for folder in sources:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.suffix.lower() in NOT_MAIL or path.name.isupper():
                continue
            if path.stat().st_size > MAX_SEED_BYTES:
                continue
            if folder.name == "examples" and path.suffix != ".eml":
                continue
            data = path.read_bytes()
            (target / hashlib.sha1(data).hexdigest()).write_bytes(data)
            count += 1
    if not count:
        raise SystemExit(f"no mails found under {CORPORA}: ../shared must be beside the project")
    return count


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python fuzz/seed_corpus.py DIR")
    print(f"seeded {seed(Path(sys.argv[1]))} mails into {sys.argv[1]}")
