"""What apply's writes do at the desk besides the values a plan shows, said or refused at
plan time: an unblock that unmutes, the webhook events each write sends, a block the desk
would store and never show."""

from __future__ import annotations

from reconciler.changes import Action, Change
from reconciler.targets.base import Capabilities


def side_effects(changes: list[Change], capabilities: Capabilities) -> list[str]:
    """What apply's writes do at the desk besides: where muting blocks a contact, an
    unblock unmutes; where writes notify webhooks, each one does."""
    said = []
    unblocked = [
        change
        for change in changes
        if any(field.path == "blocked" and field.after is False for field in change.fields)
    ]
    if capabilities.mutes_block and unblocked:
        named = ", ".join(f"id {change.id}" for change in unblocked[:20])
        more = f" and {len(unblocked) - 20} more" if len(unblocked) > 20 else ""
        said.append(
            f"the plan unblocks {len(unblocked)} contact(s) ({named}{more}): in "
            f"{capabilities.service}, muting a conversation blocks its contact, so apply also "
            "unmutes their conversations (an agent's mute is undone)"
        )
    if capabilities.webhooks and changes:
        marks = sum(1 for c in changes if c.action is Action.UPDATE and not c.fields)
        only = f" ({marks} to record the ownership marker alone)" if marks else ""
        said.append(
            f"apply writes {len(changes)} contact(s){only}: each write sends the account's "
            f"webhooks a {capabilities.webhooks} event, which whatever listens (a CRM) receives"
        )
    return said


def unseen_blocks(removals: list[Change], capabilities: Capabilities) -> list[str]:
    """A block the target can write and not show: apply couldn't check it, and every plan
    after would block the contact again."""
    why = capabilities.why_unsupported("blocked")
    blocks = [change for change in removals if change.action is Action.BLOCK]
    if why is None or not blocks:
        return []
    more = f" and {len(blocks) - 1} other contact(s)" if len(blocks) > 1 else ""
    return [
        f"the plan blocks {blocks[0].label} ({blocks[0].where}){more}, but {why}; or set "
        "`removed: keep` in reconciler.yaml"
    ]
