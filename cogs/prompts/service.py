"""Weekly discussion prompts: the use cases (``PromptService``).

* The bank: the shipped prompts (data/prompts.json) seed each cohort's bank the first time it
  is used; instructors add, remove and import their own.
* The week: ``/course prompt schedule`` stores a weekly schedule (kind ``prompt``) plus the
  "no answer left alone" check two days before the week ends (kind ``prompt_followup``,
  Saturday 00:00 local). Both ask the course calendar first (nothing in break weeks or when
  the course is not running; a cohort without a calendar gets unnumbered weeks).
* Posting: one post per discussion group (groups form above ``group_threshold`` students);
  ``prompt_posts`` has one row per (week, sequence, group), claimed before it is queued, so a
  week's prompt is posted at most once unless the instructor confirms a second one. "Build
  the post" (:meth:`PromptService.build_post`) is separate from "send it": each group's post
  is an outbox row (kind ``prompt``, dedupe key ``post:<prompt_posts id>``) — a message in a
  text channel, or a forum post (``thread_name`` = the title, the week's tag applied) in a
  forum. When the outbox reports it sent (also after a restart's reconciliation), the message
  id (a forum post's thread id) is stored on the ``prompt_posts`` row; answers attach to a post
  only from then on. ``/course prompt post-now`` waits for the delivery to answer with links.
* The Saturday "no answer left alone" line edits the group's own prompt post. It is not an
  outbox row (the outbox creates messages; this changes one that exists) but it is at most
  once all the same: the ledger slot (kind ``prompt_left_alone``, slot = the post id) is
  claimed before the edit, and the edit is skipped when the post already ends with the line.
* Answers and replies: :meth:`PromptService.handle_message` classifies a student's message
  (see :mod:`cogs.prompts.rules`); edits and deletes arrive as raw events.
* Nudges: two kinds registered with the nudge engine (which applies opt-in, caps, away,
  DMs-closed and quiet hours): ``prompt_noreply`` and ``prompt_unanswered``.

Other features: the digest reads :class:`cogs.prompts.repository.PromptRepository`
(``PromptService.store``) per cohort and week key; milestones ``first_answer`` and
``first_peer_reply`` are reported to ``MilestoneService``.
"""

from __future__ import annotations

from cogs.prompts.alerts import PromptAlerts
from cogs.prompts.bank import PromptBank
from cogs.prompts.common import (
    ALERTS_ROLE_NAME,
    FOLLOWUP_KIND,
    NUDGE_NO_REPLIES,
    NUDGE_NOT_ANSWERED,
    POST_KIND,
    PostResult,
    load_default_bank,
)
from cogs.prompts.posting import PromptPosting
from cogs.prompts.stats import PromptStats
from cogs.prompts.tracking import PromptTracking

__all__ = [
    "ALERTS_ROLE_NAME",
    "FOLLOWUP_KIND",
    "NUDGE_NOT_ANSWERED",
    "NUDGE_NO_REPLIES",
    "POST_KIND",
    "PostResult",
    "PromptService",
    "load_default_bank",
]


class PromptService(PromptBank, PromptPosting, PromptTracking, PromptAlerts, PromptStats):
    """The prompts feature's one service (``app.services.get(PromptService)``): the parts
    share one state (:class:`cogs.prompts.core.PromptCore`), each in its own module."""
