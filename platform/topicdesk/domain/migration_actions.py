"""What each team must do now in a migration (pure): the API's `team_actions` and the portal's list.

Roles: `owner` (the target's owner team, which asked), `source_owner` (the source cluster's owner
team, which releases the topics), `producer` and `consumer` (teams whose principals produce to or
consume from the topics, from the plan's team_changes). `done` says the team has nothing left to
do in this step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from topicdesk.domain.migration import Step

ROTATE = "/api/v1/clusters/{cluster}/service-accounts/{principal}/rotate"


def _accounts(plan: Mapping[str, Any], team: str) -> list[str]:
    return [str(s["principal"]) for s in plan.get("service_accounts", ())
            if s.get("team") == team and s.get("action") == "create_scram_credentials"]


def _cut_over(group: str, row: Mapping[str, Any], source: str, target: str) -> str:
    """A group starts on the target only once it stopped on the source and its offsets there are
    exact (or the exact check failed for good and MirrorMaker's translation is what it gets)."""
    if row.get("source_members"):
        return (f"Stop group {group} on {source}; wait until it shows ready on {target}, then start it there "
                "with the same group id.")
    if row.get("ready_on_target"):
        return (f"Start group {group} on {target} now with the same group id; it resumes exactly where it "
                f"stopped on {source}.")
    if not row.get("translation_pending", True):
        return (f"Start group {group} on {target} now with the same group id; it resumes from MirrorMaker's "
                f"translated offsets and re-reads some records ({row.get('translation_note')}).")
    return (f"Group {group} stopped on {source}: wait until it shows ready on {target} (its exact offsets are "
            "being committed there), then start it with the same group id.")


def team_actions(step: Step, plan: Mapping[str, Any], *, source: str, target: str, owner_team: str,
                 source_owner: str, target_bootstrap: str, groups: Sequence[Mapping[str, Any]] = (),
                 producers_switched: bool = False) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    finished = step in (Step.DONE, Step.ROLLED_BACK, Step.FAILED)
    teams = [c for c in plan.get("team_changes", ()) if not str(c.get("team", "")).startswith("(")]
    by_group = {str(g["group"]): g for g in groups}
    for change in teams:
        team = str(change["team"])
        accounts = _accounts(plan, team)
        if change.get("consumers") or change.get("consumer_groups"):
            now: list[str] = []
            done = True
            if step is Step.PLANNED:
                now = [f"Nothing yet; the target topics and your grants are being created on {target}."]
            elif step is Step.MIRRORING:
                now = [f"Prepare: point consumers of {', '.join(change.get('topics', []))} at {target_bootstrap} "
                       "(same group ids), but keep them running on the source until told."]
                now += [f"Get the password of {p} on {target}: POST {ROTATE.format(cluster=target, principal=p)} "
                        "(shown once)." for p in accounts]
            elif step is Step.CONSUMERS_CUT_OVER:
                waiting = [g for g in change.get("consumer_groups", []) if by_group.get(g, {}).get("source_members")
                           or not by_group.get(g, {}).get("target_members")]
                now = [_cut_over(g, by_group.get(g, {}), source, target) for g in waiting]
                done = not waiting
            elif step is Step.ROLLED_BACK:
                now = [f"Run your consumers on {source} again (their offsets there are where they left them)."]
            out.append({"team": team, "role": "consumer", "now": now, "done": done or finished})
        if change.get("producers"):
            now, done = [], True
            if step in (Step.MIRRORING, Step.CONSUMERS_CUT_OVER):
                now = [f"Prepare producers of {', '.join(change.get('topics', []))} for {target_bootstrap}; keep "
                       f"writing to {source} until told (writes to {source} are refused once consumers moved)."]
                now += [f"Get the password of {p} on {target}: POST {ROTATE.format(cluster=target, principal=p)} "
                        "(shown once)." for p in accounts]
            elif step is Step.PRODUCERS_CUT_OVER:
                now = [f"Switch producers to {target_bootstrap} now; confirm with POST "
                       "/api/v1/migrations/{id}/producers-switched if they write rarely."]
                done = producers_switched
            out.append({"team": team, "role": "producer", "now": now, "done": done or finished})
    owner_now: list[str] = []
    if step is Step.PRODUCERS_CUT_OVER and not producers_switched:
        owner_now = ["Confirm producers write to the target (or wait until Topicdesk sees new records there)."]
    elif step is Step.DONE:
        owner_now = [f"Declare the migrated topics in your desired-state file for {target} (adoption)."]
    elif step is Step.ROLLED_BACK:
        owner_now = [f"The target topics on {target} were kept; delete them with a topic.delete request if unwanted."]
    out.append({"team": owner_team, "role": "owner", "now": owner_now, "done": not owner_now})
    source_now = ([f"Delete the quarantined topics on {source} with a topic.delete request when ready "
                   "(never done implicitly)."] if step is Step.DONE else [])
    out.append({"team": source_owner, "role": "source_owner", "now": source_now, "done": not source_now})
    return out
