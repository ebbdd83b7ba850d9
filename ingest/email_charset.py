"""Turn bytes with a declared (maybe wrong, maybe missing) charset into text, never failing."""

from __future__ import annotations

import codecs

# Labels senders use to say "I don't know"; decoding falls back to guessing.
_UNKNOWN_LABELS = frozenset(
    {"", "x-unknown", "unknown", "unknown-8bit", "x-user-defined", "default", "charset", "none"}
)

# Common mail labels whose best Python codec differs from the plain lookup: supersets that
# decode what real clients actually send under these names.
_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "iso-8859-8-i": "iso-8859-8",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "windows-874": "cp874",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso_8859-1": "cp1252",
}

# Codecs Python knows that are no text charsets or that interpret escapes; a hostile label
# such as charset=unicode_escape must not reach them.
_REFUSED_CODECS = frozenset(
    {"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined", "mbcs", "oem"}
)

_codec_cache: dict[str, str | None] = {}


def codec_for(label: str | None) -> str | None:
    """The Python codec name for a MIME charset label, or None when unknown or unusable."""
    if label is None:
        return None
    key = label.strip().strip("\"'").lower()
    if key in _codec_cache:
        return _codec_cache[key]
    name: str | None = None
    if key not in _UNKNOWN_LABELS and len(key) <= 40:
        candidate = _ALIASES.get(key, key)
        try:
            info = codecs.lookup(candidate)
        except (LookupError, ValueError):
            info = None
        if info is not None and info._is_text_encoding and info.name not in _REFUSED_CODECS:
            name = info.name
    if len(_codec_cache) < 512:
        _codec_cache[key] = name
    return name


def _guess(data: bytes) -> str:
    """Undeclared or undecodable bytes: UTF-8 when (mostly) valid, else Windows-1252."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", "replace")
    broken = text.count("\ufffd")
    # UTF-8 with a stray bad byte still has far more valid multi-byte characters than
    # errors; single-byte text read as UTF-8 has almost none.
    if sum(1 for ch in text if ord(ch) > 0x7F) - broken >= 3 * broken:
        return text
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_bytes(data: bytes, label: str | None) -> tuple[str, str | None]:
    """Decode `data` declared as charset `label`; return the text and a problem, if any.

    The problem is a short sentence for `Report.warnings` when the label was unknown or did not
    fit the bytes; undeclared charsets are guessed silently (the RFC default is ASCII, and
    clients that omit the label mostly send UTF-8 or Windows-1252).
    """
    if data.isascii():
        codec = codec_for(label) if label else None
        # Only 7-bit stateful encodings need their codec for pure ASCII bytes.
        if codec is None or codec not in ("iso2022_jp_ext", "iso2022_jp", "utf-7", "hz"):
            return data.decode("ascii"), None
    if label is None or not label.strip():
        return _guess(data), None
    codec = codec_for(label)
    shown = label.strip().strip("\"'")[:40]
    if codec is None:
        return _guess(data), f"unknown charset {shown!r}; decoded by guessing"
    if codec == "ascii":
        return _guess(
            data
        ), f"charset {shown!r} declared but 8-bit bytes found; decoded by guessing"
    if codec == "cp1252":
        try:
            return data.decode("cp1252"), None
        except UnicodeDecodeError:
            return data.decode("latin-1"), None
    try:
        return data.decode(codec), None
    except (UnicodeError, ValueError, LookupError):
        pass
    problem = f"text is not valid {shown!r}; decoded by guessing"
    if codec == "utf-8":
        # Mostly-UTF-8 text with a few broken bytes keeps its real characters; text with no
        # valid multi-byte sequence at all was really a single-byte charset.
        text = data.decode("utf-8", "replace")
        if any(ord(ch) > 0x7F and ch != "\ufffd" for ch in text):
            return text, "text is not valid 'utf-8'; broken bytes replaced"
    else:
        try:
            return data.decode("utf-8"), problem
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("cp1252"), problem
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(codec, "replace"), problem
    except (UnicodeError, ValueError, LookupError):
        return data.decode("latin-1"), problem
