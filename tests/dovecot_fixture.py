"""Pytest plugin: Dovecot IMAP server started per test session (issue 4)."""

from __future__ import annotations
