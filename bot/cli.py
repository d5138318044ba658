"""The `cohortbot` command line: run, check, sync, backup, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import discord

from bot.app import AppContext, close_app, open_app
from bot.client import CohortBot, build_bot
from bot.endpoints import point_discord_at
from bot.gc_tuning import configure_thresholds
from bot.invite import application_id_from_token, invite_url
from bot.logging_setup import configure_logging
from bot.outbox.repository import OUTBOX_NOTIFY_CHANNEL
from bot.settings import Settings, SettingsError, load_settings, log_level_number
from bot.store.db import StoreError

if TYPE_CHECKING:
    from bot.store.postgres import ShardClaim

log = logging.getLogger("bot.cli")

EXIT_OK = 0
EXIT_CONFIG = 2

INTENTS_HELP = (
    "Discord refused the privileged intents CohortBot needs. Open "
    "https://discord.com/developers/applications → your app → Bot → Privileged Gateway Intents "
    "and switch on SERVER MEMBERS INTENT and MESSAGE CONTENT INTENT, then start again."
)


def fail(message: str) -> int:
    print(f"cohortbot: {message}", file=sys.stderr)
    return EXIT_CONFIG


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cohortbot", description=__doc__)
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot against Discord (needs DISCORD_TOKEN)")
    sub.add_parser("check", help="validate settings, migrate the database, print the invite URL")
    sync = sub.add_parser("sync", help="register slash commands with Discord")
    target = sync.add_mutually_exclusive_group(required=True)
    target.add_argument("--guild", type=int, metavar="ID", help="sync to one server (instant)")
    target.add_argument("--global", dest="global_", action="store_true", help="sync globally")
    target.add_argument("--clear", action="store_true", help="remove all registered commands")
    sync.add_argument("--clear-guild", type=int, metavar="ID", help="with --clear: that server")
    backup = sub.add_parser("backup", help="write an online backup of the database")
    backup.add_argument("path", type=Path)
    db = sub.add_parser("db", help="database tools")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    copy = db_sub.add_parser(
        "copy", help="copy every table to another database (e.g. SQLite to PostgreSQL)"
    )
    copy.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URL",
        help="sqlite:///path or postgresql://…",
    )
    copy.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="URL",
        help="sqlite:///path or postgresql://… (must be empty unless --force)",
    )
    copy.add_argument("--force", action="store_true", help="replace whatever the target holds")
    demo = sub.add_parser("demo", help="play a course week offline against the local sandbox")
    demo.add_argument("--db", type=Path, default=None, help="database file (default: temporary)")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="folder for files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if command == "demo":
        from demo.run import run_demo  # the sandbox is only imported for the demo

        return asyncio.run(run_demo(database_path=args.db, out_dir=args.out))
    try:
        settings = load_settings(args.env_file)
    except SettingsError as error:
        return fail(str(error))
    configure_logging(log_level_number(settings), settings.discord_token)
    if command == "check":
        return asyncio.run(check(settings))
    if command == "backup":
        return asyncio.run(backup(settings, args.path))
    if command == "db":
        return asyncio.run(db_copy(settings, args.source, args.target, force=args.force))
    try:
        token = settings.require_token()
    except SettingsError as error:
        return fail(str(error))
    if settings.discord_api_base and settings.discord_gateway_url:
        point_discord_at(settings.discord_api_base, settings.discord_gateway_url)
    if command == "sync":
        return asyncio.run(sync(settings, token, args))
    return asyncio.run(run(settings, token))


async def check(settings: Settings) -> int:
    try:
        app = await open_app(settings)
    except StoreError as error:
        return fail(f"{settings.database_label}: {error}")
    try:
        server = getattr(app.db, "server_version", None)
        where = (
            str(settings.database_path)
            if server is None
            else f"{settings.database_label}, PostgreSQL {server}"
        )
        print(f"Database: {where} (schema version {app.db.schema_version}, ok)")
    finally:
        await close_app(app)
    if settings.discord_token:
        print("DISCORD_TOKEN: set")
    else:
        print("DISCORD_TOKEN: not set (needed for `cohortbot run`)")
    print(f"Gateway: {app.shards.describe()}")
    if settings.dev_guild_id:
        print(f"Commands sync at start to guild {settings.dev_guild_id}")
    else:
        print("Commands sync only with `cohortbot sync` (DEV_GUILD_ID not set)")
    print("Invite CohortBot with exactly the permissions it needs:")
    print(invite_url(application_id_from_token(settings.discord_token)))
    return EXIT_OK


async def backup(settings: Settings, path: Path) -> int:
    try:
        app = await open_app(settings)
    except StoreError as error:
        return fail(f"{settings.database_label}: {error}")
    try:
        written = await app.db.backup(path)
    except StoreError as error:
        return fail(str(error))  # it names the destination already
    except OSError as error:
        return fail(f"backup to {path} failed: {error}")
    finally:
        await close_app(app)
    print(f"Backup written to {written}")
    return EXIT_OK


async def db_copy(settings: Settings, source: str, target: str, *, force: bool) -> int:
    from bot.store.copy import copy_database  # only this command needs it
    from bot.store.sql import redact_url

    for name, url in (("--from", source), ("--to", target)):
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            return fail(f"{name} must be sqlite:///path or postgresql://…, not {redact_url(url)}")
    try:
        result = await copy_database(
            source,
            target,
            force=force,
            files_beside=settings.database_path.with_name("postgresql"),
            progress=print,
        )
    except StoreError as error:
        return fail(f"db copy from {redact_url(source)} to {redact_url(target)}: {error}")
    total = sum(result.rows.values())
    print(
        f"Copied {total} rows in {len(result.rows)} tables (schema version "
        f"{result.schema_version}); every table's row count matches the source"
    )
    return EXIT_OK


async def sync(settings: Settings, token: str, args: argparse.Namespace) -> int:
    try:
        app = await open_app(settings)
    except StoreError as error:
        return fail(f"{settings.database_label}: {error}")
    bot = CohortBot(app, start_services=False)
    try:
        async with bot:
            await bot.login(token)
            if args.clear:
                guild = discord.Object(id=args.clear_guild) if args.clear_guild else None
                bot.tree.clear_commands(guild=guild)
                await bot.tree.sync(guild=guild)
                print("Cleared the registered commands" + (f" in {guild.id}" if guild else ""))
            elif args.global_:
                synced = await bot.tree.sync()
                print(f"Synced {len(synced)} commands globally (may take up to an hour to show)")
            else:
                guild = discord.Object(id=args.guild)
                bot.tree.copy_global_to(guild=guild)
                synced = await bot.tree.sync(guild=guild)
                print(f"Synced {len(synced)} commands to guild {args.guild}")
    except discord.LoginFailure:
        return fail("DISCORD_TOKEN was rejected by Discord (401). Reset it in the portal.")
    finally:
        await close_app(app)
    return EXIT_OK


def cluster_problem(app: AppContext) -> str | None:
    """Why this process may not run its shards, or None.

    Running only some of the shards means other processes run the rest, and they must share
    one database that many processes can write: SQLite is one process's file. On PostgreSQL
    :func:`claim_shards` then makes sure no two running processes connect the same shard.
    """
    if app.shards.partial and app.db.dialect != "postgresql":
        return (
            f"SHARD_IDS: this process would run only {app.shards.describe()}; the other shards' "
            "processes must share its database, which needs PostgreSQL (DATABASE_URL), not "
            "an SQLite file. With SQLite, run every shard in one process (leave SHARD_IDS unset)."
        )
    return None


async def claim_shards(app: AppContext) -> tuple[ShardClaim | None, str | None]:
    """On PostgreSQL, lock this process's shards for its life: (the claim, None), or (None,
    why not) when another running process has one of them. SQLite: (None, None)."""
    if app.db.dialect != "postgresql":
        return None, None
    from bot.store.postgres import PostgresDatabase, ShardsTakenError

    assert isinstance(app.db, PostgresDatabase)
    plan = app.shards
    try:
        claim = await app.db.claim_shards(plan.count or 1, plan.runs)
    except ShardsTakenError as error:
        ids = ",".join(map(str, plan.runs)) if plan.sharded else "unset"
        return None, (
            f"SHARD_IDS={ids}: {error} on {app.settings.database_label}; every cluster member "
            "needs shards of its own (and the same SHARD_COUNT)"
        )
    return claim, None


def wake_sender(app: AppContext) -> None:
    if app.outbox.sender is not None:
        app.outbox.sender.wake()


async def run(settings: Settings, token: str) -> int:
    log.debug("GC thresholds %s", configure_thresholds(settings.gc_thresholds))
    try:
        app = await open_app(settings)
    except StoreError as error:
        return fail(f"{settings.database_label}: {error}")
    problem = cluster_problem(app)
    claim: ShardClaim | None = None
    if problem is None:
        try:
            claim, problem = await claim_shards(app)
        except StoreError as error:
            problem = f"{settings.database_label}: {error}"
    if problem is not None:
        await close_app(app)
        return fail(problem)
    bot = build_bot(app)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def request_stop() -> None:
        log.info("Shutting down")
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, request_stop)
    lost: list[str] = []

    def shards_lost(why: str) -> None:
        # The locks' connection dropped and another process took our shards meanwhile: two
        # processes must never run one shard, so this one stops.
        log.error("Stopping: the shard locks were lost and %s", why)
        lost.append(why)
        stopping.set()

    if claim is not None:
        claim.watch(shards_lost)
        # Rows another member queued are sent at once, not at this sender's next poll.
        await claim.listen(OUTBOX_NOTIFY_CHANNEL, lambda: wake_sender(app))
    try:
        async with bot:
            runner = asyncio.create_task(bot.start(token))
            stopper = asyncio.create_task(stopping.wait())
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                runner.result()
            else:
                await bot.close()
                await runner
            stopper.cancel()
    except discord.LoginFailure:
        return fail("DISCORD_TOKEN was rejected by Discord (401). Reset it in the portal.")
    except discord.PrivilegedIntentsRequired:
        return fail(INTENTS_HELP)
    finally:
        await close_app(app)
        if claim is not None:
            await claim.release()
    if lost:
        return fail(f"SHARD_IDS: {lost[0]}; stopped so that no shard runs twice")
    return EXIT_OK
