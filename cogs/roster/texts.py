"""What the roster feature says. Pure: no discord, no I/O."""

from __future__ import annotations

WRONG_CODE = (
    "That code didn't work. Check it against the message from your instructor and try again "
    "(spaces and lower case are fine). Tries left this hour: {left}."
)
PAUSED = (
    "Too many tries with codes that didn't work: please wait until {until} and try "
    "again, or ask your instructor for help."
)
ALREADY_LINKED = (
    "Your account is already linked to the course roster as {name}. If that's wrong, ask your "
    "instructor."
)
JOINED = (
    "Welcome, {name}! Your account is now linked to the course roster{cohort}. "
    "Say hello in the introductions channel when you're ready."
)
NO_ROSTER = "There is no roster yet: import one with /course roster import."
STALE_IMPORT = (
    "This preview is out of date (the roster changed since, it was already applied, or it "
    "expired). Nothing was stored: run /course roster import again."
)
CODES_NOTE = (
    "Join codes for {count} student(s) not linked yet, attached privately: merge them into an "
    "email from the LMS. Each code works once, for its student only, until the term closes; "
    "codes issued before for these students no longer work."
)
