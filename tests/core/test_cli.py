"""The `cohortbot` command line as an operator uses it: real processes, real exit codes."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

from sandbox.harness import build_course_world
from sandbox.server import SandboxServer
from tests.support.processes import clean_env

FAKE_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123"


async def cohortbot(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        str(tmp_path / "missing.env"),
        *args,
        cwd=tmp_path,
        env=env or clean_env(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_run_without_token_exits_2_with_one_line(tmp_path: Path) -> None:
    code, out, err = await cohortbot(tmp_path, "run")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "DISCORD_TOKEN" in lines[0]
    assert "Traceback" not in err + out


async def test_invalid_setting_exits_2_naming_it(tmp_path: Path) -> None:
    env = clean_env(tmp_path, DEV_GUILD_ID="my-server")
    code, _, err = await cohortbot(tmp_path, "check", env=env)
    assert code == 2
    assert err.strip().splitlines() == [err.strip()] and "DEV_GUILD_ID" in err


async def test_check_migrates_and_prints_invite_url(tmp_path: Path) -> None:
    env = clean_env(tmp_path, DISCORD_TOKEN=FAKE_TOKEN)
    code, out, err = await cohortbot(tmp_path, "check", env=env)
    assert code == 0, err
    assert "https://discord.com/oauth2/authorize?client_id=123456789012345678" in out
    assert "permissions=" in out
    assert FAKE_TOKEN not in out + err
    assert (tmp_path / "bot.db").exists()


async def test_newer_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 999")
    code, _, err = await cohortbot(tmp_path, "check")
    assert code == 2
    assert "DATABASE_PATH" in err and "Traceback" not in err


async def test_unreadable_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bot.db").write_bytes(b"this is not a database" * 100)
    code, _, err = await cohortbot(tmp_path, "run", env=clean_env(tmp_path, DISCORD_TOKEN="x.y.z"))
    assert code == 2
    assert "backup" in err.lower() and "Traceback" not in err


async def test_backup_writes_a_usable_copy(tmp_path: Path) -> None:
    code, _, err = await cohortbot(tmp_path, "check")
    assert code == 0, err
    code, out, err = await cohortbot(tmp_path, "backup", str(tmp_path / "copy.db"))
    assert code == 0, err
    assert "Backup written" in out
    with sqlite3.connect(tmp_path / "copy.db") as conn:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1


async def test_bad_token_exits_2(tmp_path: Path) -> None:
    async with SandboxServer() as sandbox:
        sandbox.required_token = "the-right-token"
        env = clean_env(
            tmp_path,
            DISCORD_TOKEN="a-wrong-token",
            DISCORD_API_BASE=sandbox.api_base,
            DISCORD_GATEWAY_URL=sandbox.gateway_url,
        )
        code, out, err = await cohortbot(tmp_path, "run", env=env)
    assert code == 2
    assert "rejected" in err and "a-wrong-token" not in out + err


async def test_python_m_bot_logs_in_syncs_and_answers_help(tmp_path: Path) -> None:
    async with SandboxServer() as sandbox:
        world = await build_course_world(sandbox, students=3)
        sandbox.required_token = FAKE_TOKEN
        env = clean_env(
            tmp_path,
            DISCORD_TOKEN=FAKE_TOKEN,
            DISCORD_API_BASE=sandbox.api_base,
            DISCORD_GATEWAY_URL=sandbox.gateway_url,
            DEV_GUILD_ID=str(world.guild_id),
            LOG_LEVEL="DEBUG",
        )
        # DEBUG output is large: a file, not a pipe nobody reads until the end (a full pipe
        # would block the bot's logging and so the bot).
        log_path = tmp_path / "bot.log"
        with log_path.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "--env-file", str(tmp_path / "none.env"),
                cwd=tmp_path, env=env, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        try:
            await sandbox.wait_for(
                lambda: any(c["name"] == "help" for c in sandbox.commands(world.guild_id)),
                timeout=30,
            )
            await sandbox.wait_until_ready(30)
            record = await sandbox.invoke_slash(
                world.guild_id, world.general_channel_id, world.student_ids[0], "help"
            )
            await record.wait_final(10)
            assert "/help" in record.text()
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
        output = log_path.read_text(errors="replace")
        assert process.returncode == 0, output[-2000:]
        # DEBUG logs of a whole run never contain the token.
        assert FAKE_TOKEN not in output
        assert sandbox.commands(None) == []  # never a global sync on start


async def test_missing_privileged_intents_exit_2_saying_where_to_switch_them_on(
    tmp_path: Path,
) -> None:
    async with SandboxServer() as sandbox:
        await build_course_world(sandbox, students=1)
        sandbox.privileged_intents_enabled = False
        env = clean_env(
            tmp_path,
            DISCORD_TOKEN=FAKE_TOKEN,
            DISCORD_API_BASE=sandbox.api_base,
            DISCORD_GATEWAY_URL=sandbox.gateway_url,
        )
        code, _out, err = await cohortbot(tmp_path, "run", env=env)
    assert code == 2
    assert "MESSAGE CONTENT INTENT" in err and "Privileged Gateway Intents" in err
    assert "Traceback" not in err


async def test_sync_command_registers_to_a_guild_globally_and_clears(tmp_path: Path) -> None:
    async with SandboxServer() as sandbox:
        world = await build_course_world(sandbox, students=1)
        env = clean_env(
            tmp_path,
            DISCORD_TOKEN=FAKE_TOKEN,
            DISCORD_API_BASE=sandbox.api_base,
            DISCORD_GATEWAY_URL=sandbox.gateway_url,
        )
        code, out, err = await cohortbot(tmp_path, "sync", "--guild", str(world.guild_id), env=env)
        assert code == 0, err
        assert {c["name"] for c in sandbox.commands(world.guild_id)} >= {"course", "help"}
        assert sandbox.commands(None) == []
        code, out, err = await cohortbot(tmp_path, "sync", "--global", env=env)
        assert code == 0, err
        assert {c["name"] for c in sandbox.commands(None)} >= {"course", "help"}
        code, out, err = await cohortbot(tmp_path, "sync", "--clear", env=env)
        assert code == 0, err
        assert sandbox.commands(None) == []
        assert "Cleared" in out
