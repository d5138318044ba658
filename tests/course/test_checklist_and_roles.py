from bot.invite import application_id_from_token, invite_url, required_permissions
from bot.roles import is_instructor, is_staff, student_cohorts
from bot.store.guilds import Cohort, GuildConfig
from cogs.course.checklist import (
    CHANNEL_NEEDS,
    ChannelSnapshot,
    GuildSnapshot,
    RoleSnapshot,
    all_ok,
    build_checklist,
    render_checklist,
)


def full_snapshot(**overrides: object) -> GuildSnapshot:
    channels = tuple(
        ChannelSnapshot(slot, i + 10, slot.replace(" ", "-"), frozenset(needs))
        for i, (slot, needs) in enumerate(CHANNEL_NEEDS.items())
    )
    base = {
        "roles": (
            RoleSnapshot("student", 1, "Student"),
            RoleSnapshot("instructor", 2, "Instructor"),
            RoleSnapshot("lead", 3, "Lead"),
        ),
        "channels": channels,
        "timezone": "America/New_York",
        "timezone_valid": True,
        "bot_guild_permissions": frozenset({"manage_roles", "manage_channels"}),
        "cohort_names": ("Cohort 1",),
    }
    base.update(overrides)
    return GuildSnapshot(**base)  # type: ignore[arg-type]


def test_complete_setup_is_all_green() -> None:
    items = build_checklist(full_snapshot())
    assert all_ok(items), render_checklist(items)
    assert "Needs attention" not in render_checklist(items)


def test_channel_without_send_permission_is_red_and_named() -> None:
    snapshot = full_snapshot()
    intro = snapshot.channels[0]
    broken = ChannelSnapshot(
        intro.slot, intro.channel_id, intro.name, intro.bot_permissions - {"send_messages"}
    )
    items = build_checklist(full_snapshot(channels=(broken, *snapshot.channels[1:])))
    bad = [item for item in items if not item.ok]
    assert [item.label for item in bad] == ["Introductions channel"]
    assert "Send Messages" in bad[0].detail


def test_public_leads_channel_is_red() -> None:
    snapshot = full_snapshot()
    leads = snapshot.channels[-1]
    public = ChannelSnapshot(leads.slot, leads.channel_id, leads.name, leads.bot_permissions, True)
    items = build_checklist(full_snapshot(channels=(*snapshot.channels[:-1], public)))
    assert [i.label for i in items if not i.ok] == ["Leads channel"]
    assert "@everyone" in render_checklist(items)


def test_unset_and_deleted_things_are_red() -> None:
    items = build_checklist(
        full_snapshot(
            roles=(RoleSnapshot("student", None, None), RoleSnapshot("instructor", 9, None)),
            timezone="EST",
            timezone_valid=False,
            cohort_names=(),
        )
    )
    labels = {i.label for i in items if not i.ok}
    assert labels == {"Student role", "Instructor role", "Course time zone", "Cohorts"}


def test_roles() -> None:
    config = GuildConfig(guild_id=1, instructor_role_id=50)
    cohorts = [Cohort(1, 1, "A", student_role_id=10, lead_role_id=60)]
    assert is_instructor(role_ids={50}, manage_guild=False, config=config)
    assert is_instructor(role_ids=set(), manage_guild=True, config=None)
    assert not is_instructor(role_ids={10}, manage_guild=False, config=config)
    assert is_staff(role_ids={60}, manage_guild=False, config=config, cohorts=cohorts)
    # A lead who also holds the student role is staff, never a student.
    assert (
        student_cohorts(role_ids={10, 60}, manage_guild=False, config=config, cohorts=cohorts) == []
    )
    assert (
        student_cohorts(role_ids={10}, manage_guild=False, config=config, cohorts=cohorts)
        == cohorts
    )


def test_invite_url_has_the_needed_permissions() -> None:
    perms = required_permissions()
    assert perms.send_messages and perms.create_private_threads and perms.manage_roles
    assert not perms.administrator
    # base64("123456789012345678") is the first segment of such a token.
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123"
    assert application_id_from_token(token) == 123456789012345678
    url = invite_url(123456789012345678)
    assert "client_id=123456789012345678" in url
    assert f"permissions={perms.value}" in url
    assert "applications.commands" in url.replace("+", " ").replace("%20", " ")
    assert "YOUR_APPLICATION_ID" in invite_url(None)
