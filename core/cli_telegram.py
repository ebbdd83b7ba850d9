"""`intake telegram poll` (the bot in the foreground) and `intake telegram check`."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from core import config_telegram
from core.cli_common import runtime
from core.config_errors import ConfigError


@click.group("telegram")
def telegram_group() -> None:
    """The Telegram bot."""


def _require(ctx: click.Context) -> config_telegram.TelegramConfig:
    config = runtime(ctx).config.telegram
    if not config.enabled:
        raise click.UsageError("config: [telegram] needs token_env or token_file")
    try:
        config_telegram.token(config)
    except ConfigError as exc:
        raise click.UsageError(f"config: {exc}") from exc
    return config


@telegram_group.command("poll")
@click.pass_context
def poll_command(ctx: click.Context) -> None:
    """Run the bot in the foreground (long polling) until Ctrl-C or SIGTERM."""
    from ingest.telegram_bot import TelegramBot

    _require(ctx)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per getUpdates otherwise
    bot = TelegramBot.from_runtime(runtime(ctx))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        me = await bot.start()
        click.echo(f"polling as @{me.username}; Ctrl-C stops", err=True)
        await bot.run(stop)

    asyncio.run(main())


@telegram_group.command("check")
@click.pass_context
def check_command(ctx: click.Context) -> None:
    """Call getMe with the configured token; print the bot and the configured chats."""
    import telegram
    from telegram.error import TelegramError

    from ingest.telegram_bot import make_bot

    config = _require(ctx)

    async def main() -> telegram.User:
        async with make_bot(config) as bot:
            return await bot.get_me()

    try:
        me = asyncio.run(main())
    except TelegramError as exc:
        raise click.ClickException(f"Telegram refused getMe: {exc}") from exc
    click.echo(f"bot: @{me.username} (id {me.id})")
    if not me.can_read_all_group_messages:
        click.echo("privacy mode: on (in 'all' chats the bot sees only commands and replies to it")
        click.echo("  unless it is an admin; disable it with BotFather /setprivacy)")
    click.echo(f"mode: {config.mode}; cards for: {config.cards_for}")
    if not config.chats:
        click.echo("chats: none configured ([[telegram.chats]])")
    for chat in config.chats:
        click.echo(f"chat {chat.id}: {chat.mode}")
    for user in config.private_users:
        click.echo(f"private chats from: {user}")


@telegram_group.command("set-webhook")
@click.pass_context
def set_webhook_command(ctx: click.Context) -> None:
    """Tell Telegram to POST updates to [telegram] webhook_url, with the webhook secret."""
    from telegram.error import TelegramError

    from ingest.telegram_bot import ALLOWED_UPDATES, make_bot

    config = _require(ctx)
    if config.mode != "webhook" or not config.webhook_url:
        raise click.UsageError('config: set [telegram] mode = "webhook" and webhook_url first')
    try:
        secret = config_telegram.webhook_secret(config)
    except ConfigError as exc:
        raise click.UsageError(f"config: {exc}") from exc

    async def main() -> None:
        async with make_bot(config) as bot:
            await bot.set_webhook(
                config.webhook_url or "", secret_token=secret, allowed_updates=ALLOWED_UPDATES
            )

    try:
        asyncio.run(main())
    except TelegramError as exc:
        raise click.ClickException(f"Telegram refused setWebhook: {exc}") from exc
    click.echo(f"webhook set: {config.webhook_url}")
