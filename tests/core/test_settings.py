from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings, parse_settings


def test_defaults_when_nothing_is_set() -> None:
    settings = parse_settings({})
    assert settings.discord_token is None
    assert settings.database_path == Path("data/cohortbot.db")
    assert settings.log_level == "INFO"
    assert settings.dev_guild_id is None


def test_all_values_parsed() -> None:
    settings = parse_settings(
        {
            "DISCORD_TOKEN": " abc.def.ghi ",
            "DATABASE_PATH": "/tmp/x.db",
            "DEV_GUILD_ID": "123",
            "LOG_LEVEL": "debug",
            "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10/",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9/",
        }
    )
    assert settings.discord_token == "abc.def.ghi"
    assert settings.database_path == Path("/tmp/x.db")
    assert settings.dev_guild_id == 123
    assert settings.log_level == "DEBUG"
    assert settings.discord_api_base == "http://127.0.0.1:9/api/v10"


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"DEV_GUILD_ID": "abc"}, "DEV_GUILD_ID"),
        ({"DEV_GUILD_ID": "-4"}, "DEV_GUILD_ID"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"DISCORD_API_BASE": "ftp://x"}, "DISCORD_API_BASE"),
        ({"DISCORD_API_BASE": "http://127.0.0.1:1/api/v10"}, "DISCORD_GATEWAY_URL"),
        ({"DISCORD_GATEWAY_URL": "ws://127.0.0.1:1/"}, "DISCORD_API_BASE"),
        ({"DISCORD_TOKEN": "has space"}, "DISCORD_TOKEN"),
    ],
)
def test_invalid_values_name_the_variable(values: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(values)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_missing_token_is_reported_by_name() -> None:
    with pytest.raises(SettingsError, match="DISCORD_TOKEN"):
        parse_settings({}).require_token()


def test_token_is_not_in_repr() -> None:
    settings = parse_settings({"DISCORD_TOKEN": "sekrit.token.value"})
    assert "sekrit" not in repr(settings)


def test_environment_wins_over_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=DEBUG\nDEV_GUILD_ID=5\n")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.delenv("DEV_GUILD_ID", raising=False)
    settings = load_settings(env_file)
    assert settings.log_level == "WARNING"
    assert settings.dev_guild_id == 5


def test_retention_and_backup_settings() -> None:
    settings = parse_settings(
        {"DATABASE_PATH": "/srv/c/bot.db", "BACKUP_KEEP": "3", "RETENTION_DAYS": "30"}
    )
    assert settings.backup_keep == 3 and settings.retention_days == 30
    assert settings.guild_grace_days == 30
    assert settings.backups_folder == Path("/srv/c/backups")
    for name, bad in (("BACKUP_KEEP", "-1"), ("RETENTION_DAYS", "0"), ("GUILD_GRACE_DAYS", "x")):
        with pytest.raises(SettingsError) as caught:
            parse_settings({name: bad})
        assert caught.value.variable == name


def test_database_url_selects_the_backend() -> None:
    sqlite = parse_settings({"DATABASE_URL": "sqlite:///data/other.db"})
    assert sqlite.database_path == Path("data/other.db") and sqlite.database_url is None
    absolute = parse_settings({"DATABASE_URL": "sqlite:////srv/cohort.db"})
    assert absolute.database_path == Path("/srv/cohort.db")
    pg = parse_settings({"DATABASE_URL": "postgresql://bot:s3cret@db:5432/cohort"})
    assert pg.database_url == "postgresql://bot:s3cret@db:5432/cohort"
    assert "s3cret" not in repr(pg) and "s3cret" not in pg.database_label
    assert "DATABASE_URL" in pg.database_label
    assert parse_settings({}).database_url is None


@pytest.mark.parametrize(
    "values",
    [
        {"DATABASE_URL": "mysql://x/y"},
        {"DATABASE_URL": "sqlite:///"},
        {"DATABASE_URL": "sqlite:///a.db", "DATABASE_PATH": "b.db"},
    ],
)
def test_bad_database_url_names_the_variable(values: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(values)
    assert caught.value.variable == "DATABASE_URL"
