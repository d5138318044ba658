"""What alumni mentors' messages say (pure: no discord import, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cogs.mentors.rules import HELP_AREAS

THANKS_OFFER_LINE: Final = (
    "🎓 Finished the course? You can **be a mentor for the next cohort**: a new student asks "
    "you what to expect, privately, a few times a term."
)
OFFER_BUTTON: Final = "Be a mentor for the next cohort"

NOT_ALUMNI: Final = (
    "Mentoring is for students who finished a cohort: once your cohort's term has closed, or "
    "an instructor has marked your course completed, you can offer here. Nothing was changed."
)
NOT_STUDENT: Final = "/mentor find is for students of a running cohort. Nothing was changed."
TURNED_OFF: Final = "Mentors aren't open for your cohort right now. Nothing was changed."
NO_OFFER: Final = "You aren't offering to mentor. Use /mentor offer to start."
SELF_MENTOR: Final = "You can't be your own mentor. Nothing was changed."
MENTOR_FULL: Final = (
    "That mentor has just filled their places (someone asked a moment before you). "
    "Here is who else could help:"
)
NOBODY_FREE: Final = (
    "No alumni have free places right now. You're on the waiting list: the instructors can "
    "pair you with a mentor, and /mentor find will show anyone who becomes free."
)
BUSY_THIS_TERM: Final = "That mentor is busy this term, so they can't take you on. 💛"
EXPIRED: Final = (
    "Your mentor request didn't get an answer within a week. That happens — alumni have busy "
    "lives too, and it says nothing about you. 💛"
)
MENTOR_LEFT: Final = (
    "The mentor you asked is no longer available (they left the server), so your request was "
    "closed."
)
MENTEE_ERASED: Final = (
    "🎓 One of your mentor pairs has closed: the student's data was erased from CohortBot. "
    "There's nothing you need to do, and it says nothing about you. Thank you for the time you "
    "gave them! 💛 Your place is free again for a new student."
)
REQUEST_WITHDRAWN: Final = (
    "🎓 A mentoring request you received has been withdrawn (the student's data was erased "
    "from CohortBot). There's nothing you need to do. Thank you for offering! 💛"
)
REQUEST_UNDELIVERED: Final = (
    "🎓 About your mentor request: I couldn't deliver it by DM (that mentor's DMs are closed). "
    "It's still waiting for them in /mentor requests, and you'll hear back when they answer; "
    "if there's no answer in 7 days it closes."
)
WAITS_IN_REQUESTS: Final = (
    "Your request couldn't be delivered by DM (that mentor's DMs are closed); it waits for "
    "them in /mentor requests."
)
REQUEST_GONE: Final = (
    "This request is no longer open (answered, expired or not yours). Nothing changed."
)


def mentee_moved_on(student_name: str) -> str:
    return (
        f"🎓 {student_name} has decided to look for another mentor, so your pair has closed. "
        "Finding the right fit can take a try or two, and it says nothing about you. Thank you "
        "for the time you gave them! 💛 Your place is free again for a new student."
    )


def help_line(areas: Sequence[str], note: str) -> str:
    parts = [HELP_AREAS[a] for a in areas if a in HELP_AREAS]
    text = ", ".join(parts)
    if note:
        text = f"{text}; “{note}”" if text else f"“{note}”"
    return text or "anything about the course"


def suggestion_line(
    index: int, name: str, areas: Sequence[str], note: str, reason: str | None
) -> str:
    why = reason or "Has been through this course and offered to help."
    return f"**{index}. {name}** — can help with {help_line(areas, note)}.\n   {why}"


def request_dm(student_name: str, cohort_name: str, areas: Sequence[str]) -> str:
    return (
        f"🎓 **{student_name}** ({cohort_name}) would like you as their mentor. You offered to "
        f"help with {help_line(areas, '')}.\n"
        "Accept to open a private thread for the two of you, or decline (they'll only hear "
        "that you're busy this term). The request closes by itself after 7 days."
    )


def thread_guide(mentor_id: int, student_id: int) -> str:
    return (
        f"👋 <@{mentor_id}>, meet <@{student_id}>! This private thread is just for the two of "
        "you (and the course moderators).\n"
        "**A short guide:** say hi and pick a time that suits you both; share what to expect "
        "from the weeks ahead; talk about assignments in general terms (not answers); be kind "
        "and keep what's said here between you.\n"
        "If anything feels wrong, press **Report to staff** — it goes privately to the staff."
    )


def asked(dm_closed: bool) -> str:
    if dm_closed:
        return (
            "Request sent. Your mentor will see it next time they open /mentor requests "
            "(their DMs are closed). You'll hear back here or by DM; it closes after 7 days."
        )
    return "Request sent! 🎓 You'll hear back by DM; if there's no answer in 7 days it closes."
