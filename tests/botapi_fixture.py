"""Pytest plugin: A loopback Telegram Bot API server speaking the methods the bot uses (issue 6)."""

from __future__ import annotations
