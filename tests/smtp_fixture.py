"""Pytest plugin: aiosmtpd SMTP sink (issue 7)."""

from __future__ import annotations
