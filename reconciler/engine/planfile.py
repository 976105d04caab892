"""Plan <-> the JSON plan document that schemas/plan.schema.json describes (format 2).

The document is what ``plan --format json`` prints and ``plan --out FILE`` saves, and what
``apply --plan FILE`` applies exactly. A value's JSON type survives the round trip (``1``
and ``1.0`` stay apart); a key that was absent has no ``before`` at all. It records the
target it was made for and a checksum over its content. ``show`` also reads format 1.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.changes import (
    Action,
    Change,
    Cost,
    FieldChange,
    KindChange,
    Operation,
    OperationKind,
    Plan,
    TargetIdentity,
)
from reconciler.errors import PlanError
from reconciler.input.document import NotAFile, read_regular_file
from reconciler.input.schemas import fast_validator_for, validator_for
from reconciler.model import ABSENT, JSON, ContactKey, Position, Selection, SourceFile
from reconciler.outputfile import write_output

FORMAT_VERSION = "2"
MAX_PLAN_BYTES = 512 * 2**20  # a plan of a million contacts is about 400 MB
SCHEMA_BY_VERSION = {"1": "plan.v1", "2": "plan"}
_OPERATION_OF_METHOD = {"POST": OperationKind.CREATE, "PATCH": OperationKind.UPDATE}  # format 1


def plan_to_document(plan: Plan) -> dict[str, JSON]:
    if plan.target is None:
        raise AssertionError("a plan of format 2 records its target")
    document: dict[str, JSON] = {
        "format_version": FORMAT_VERSION,
        "created_at": plan.created_at,
        "redacted": plan.redacted,
        "target": {
            "kind": plan.target.kind,
            "endpoint": plan.target.endpoint,
            "account": plan.target.account,
        },
        "sources": [{"path": source.path, "sha256": source.sha256} for source in plan.sources],
        "summary": {
            "create": plan.creates,
            "update": plan.updates,
            "remove": plan.removals,
            "release": plan.releases,
            "mark": plan.marks,
            "unchanged": plan.unchanged,
        },
        "warnings": list(plan.warnings),
        "marker_key": plan.marker_key,
        "changes": [_change_to_document(change) for change in plan.changes],
    }
    if plan.selection is not None:
        document["selection"] = _selection_to_document(plan.selection)
    if plan.kinds:
        document["kinds"] = [_kind_change_to_document(change) for change in plan.kinds]
    if plan.cost is not None:
        document["cost"] = {
            "plan_requests": plan.cost.plan_requests,
            "apply_requests": plan.cost.apply_requests,
            "apply_seconds": plan.cost.apply_seconds,
        }
    document["checksum"] = plan.signature or checksum(document)
    return document


def checksum(document: Mapping[str, JSON]) -> str:
    """``sha256:`` and the digest of the document without its checksum, as canonical JSON:
    what an unsigned plan carries (it is shown, never applied)."""
    return "sha256:" + hashlib.sha256(_canonical(document)).hexdigest()


def signature(document: Mapping[str, JSON], key: bytes) -> str:
    """``hmac-sha256:`` and the HMAC, under ``key`` (``Target.plan_secret``), of the
    document without its checksum, as canonical JSON: only a holder of the credential that
    made the plan can make one that verifies."""
    return "hmac-sha256:" + hmac.new(key, _canonical(document), hashlib.sha256).hexdigest()


def _canonical(document: Mapping[str, JSON]) -> bytes:
    content = {key: value for key, value in document.items() if key != "checksum"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def signed(plan: Plan, key: bytes) -> Plan:
    """``plan`` with the signature of its document: what plan --out and --format json write.
    Sign the plan as it is shown (after --redact): any change after breaks it."""
    return replace(plan, signature=signature(plan_to_document(replace(plan, signature="")), key))


def _change_to_document(change: Change) -> dict[str, JSON]:
    document: dict[str, JSON] = {
        "action": change.action.value,
        "id": change.id,
        "key": {"field": change.key.field, "value": change.key.value},
        "source": None if change.source is None else change.source.file_line,
        "fields": [_field_to_document(field) for field in change.fields],
        "operations": [
            {"kind": operation.kind.value, "body": dict(operation.body)}
            for operation in change.operations
        ],
    }
    if change.marker is not None:
        document["marker"] = change.marker
    if change.found_by is not None:
        document["found_by"] = change.found_by
    if change.conversations is not None:
        document["conversations"] = change.conversations
        if change.more_conversations:
            document["more_conversations"] = True
    return document


def _kind_change_to_document(change: KindChange) -> dict[str, JSON]:
    return {
        "kind": change.kind,
        "action": change.action.value,
        "key": change.key,
        "id": change.id,
        "source": None if change.source is None else change.source.file_line,
        "fields": [_field_to_document(field) for field in change.fields],
        "body": dict(change.body),
    }


def _kind_change_from_document(change: Mapping[str, Any]) -> KindChange:
    return KindChange(
        kind=change["kind"],
        action=Action(change["action"]),
        key=change["key"],
        source=_position(change["source"]),
        fields=tuple(_field_from_document(field) for field in change["fields"]),
        body=change["body"],
        id=change["id"],
    )


def _position(source: str | None) -> Position | None:
    if source is None:
        return None
    file, _, line = source.rpartition(":")
    return Position(file, int(line), 1)  # the document keeps file:line only


def _field_from_document(field: Mapping[str, Any]) -> FieldChange:
    return FieldChange(
        field["path"],
        field.get("before", ABSENT),
        field.get("after", ABSENT),
        tuple(field.get("keys", ())),
    )


def _selection_to_document(selection: Selection) -> dict[str, JSON]:
    since = selection.changed_since
    document: dict[str, JSON] = {
        "target": list(selection.targets),
        "exclude": list(selection.excludes),
        "changed_since": None if since is None else {"ref": since, "commit": selection.commit},
        "declared": selection.declared,
        "contacts": [{"field": key.field, "value": key.value} for key in selection.keys],
    }
    if since is not None:
        document["dropped"] = selection.dropped
        document["files"] = sorted(selection.files)
    return document


def _selection_from_document(document: Mapping[str, Any] | None) -> Selection | None:
    if document is None:
        return None
    since = document["changed_since"]
    return Selection(
        targets=tuple(document["target"]),
        excludes=tuple(document["exclude"]),
        changed_since=None if since is None else since["ref"],
        commit=None if since is None else since["commit"],
        declared=document["declared"],
        keys=tuple(ContactKey(key["field"], key["value"]) for key in document["contacts"]),
        dropped=document.get("dropped", 0),
        files=frozenset(document.get("files", ())),
    )


def _field_to_document(field: FieldChange) -> dict[str, JSON]:
    document: dict[str, JSON] = {"path": field.path}
    if field.keys:
        document["keys"] = list(field.keys)
    if field.before is not ABSENT:
        document["before"] = field.before
    if field.after is not ABSENT:
        document["after"] = field.after
    return document


def plan_from_document(
    doc: JSON,
    *,
    path: str,
    allow_redacted: bool = False,
    key: bytes | None = None,
    target: TargetIdentity | None = None,
) -> Plan:
    """The Plan a document holds; PlanError (one line) if it is not a plan this can read.

    ``allow_redacted`` is for showing a plan: a redacted one can never be applied, and
    neither can one of format 1 (it records no target). With ``key`` (to apply it), its
    signature must verify under it; without (to show it), a plain checksum must hold.
    """
    if not isinstance(doc, Mapping) or "format_version" not in doc:
        raise PlanError(f"{path} is not a reconciler plan (it has no format_version)")
    version = doc["format_version"]
    if version not in SCHEMA_BY_VERSION:
        raise PlanError(
            f"{path} is a plan in format {version!r}, which this reconciler doesn't read "
            f"(it reads {' and '.join(map(repr, SCHEMA_BY_VERSION))}); make the plan again"
        )
    schema = SCHEMA_BY_VERSION[version]
    if not fast_validator_for(schema).is_valid(doc):  # jsonschema-rs: 200 times faster
        # Imported here: only an invalid plan needs jsonschema's messages.
        from jsonschema.exceptions import best_match

        error = best_match(validator_for(schema).iter_errors(doc))
        if error is not None:
            raise PlanError(f"{path} is not a valid plan: {error.json_path}: {error.message}")
    if not allow_redacted:
        if version != FORMAT_VERSION:
            raise PlanError(
                f"{path} is a plan in format {version!r}, made by an older reconciler: it "
                "records no target, so it can be shown but not applied; make the plan again"
            )
        if doc["redacted"]:
            raise PlanError(
                f"{path} is a redacted plan (plan --redact): it can be shown but not "
                "applied; make the plan again without --redact"
            )
    made_for = doc.get("target")
    if target is not None and made_for is not None and TargetIdentity(**made_for) != target:
        # Said before the signature, which another target's key can't verify either.
        raise PlanError(
            f"{path} was made for {TargetIdentity(**made_for)}, not for {target}: nothing "
            "was applied; make the plan against this target"
        )
    if version == FORMAT_VERSION:
        _check_signature(doc, path, key)
    target = doc.get("target")
    plan = Plan(
        changes=tuple(_change_from_document(change) for change in doc["changes"]),
        unchanged=doc["summary"]["unchanged"],
        warnings=tuple(doc["warnings"]),
        redacted=doc["redacted"],
        sources=tuple(SourceFile(source["path"], source["sha256"]) for source in doc["sources"]),
        created_at=doc["created_at"],
        target=None if target is None else TargetIdentity(**target),
        marker_key=doc.get("marker_key"),
        selection=_selection_from_document(doc.get("selection")),
        kinds=tuple(_kind_change_from_document(change) for change in doc.get("kinds", ())),
        signature=str(doc.get("checksum", "")),
        cost=None if "cost" not in doc else Cost(**doc["cost"]),
    )
    summary = doc["summary"]
    counted = [summary.get(name, 0) for name in ("create", "update", "remove", "release", "mark")]
    if counted != [plan.creates, plan.updates, plan.removals, plan.releases, plan.marks]:
        raise PlanError(f"{path} is not a valid plan: its summary doesn't match its changes")
    return plan


def _change_from_document(change: Mapping[str, Any]) -> Change:
    source = _position(change["source"])
    if "operations" in change:
        operations = tuple(
            Operation(OperationKind(operation["kind"]), operation["body"])
            for operation in change["operations"]
        )
    else:
        operations = tuple(
            Operation(_OPERATION_OF_METHOD[request["method"]], request["body"])
            for request in change["requests"]
        )
    return Change(
        action=Action(change["action"]),
        key=ContactKey(change["key"]["field"], change["key"]["value"]),
        source=source,
        fields=tuple(_field_from_document(field) for field in change["fields"]),
        operations=operations,
        id=change["id"],
        marker=change.get("marker"),
        found_by=change.get("found_by"),
        conversations=change.get("conversations"),
        more_conversations=change.get("more_conversations", False),
    )


def _check_signature(doc: Mapping[str, JSON], path: str, key: bytes | None) -> None:
    given = str(doc["checksum"])
    if given.startswith("sha256:") and given != checksum(doc):
        raise PlanError(
            f"{path} was changed after it was made (its checksum doesn't match): nothing "
            "was applied; make the plan again"
        )
    if key is None:
        return  # shown: only the credential that made it can tell an edit from the rest
    if given.startswith("sha256:"):
        raise PlanError(
            f"{path} is not signed (made by an older reconciler, or edited and checksummed "
            "again by hand): nothing was applied; make the plan again"
        )
    if not hmac.compare_digest(given, signature(doc, key)):
        raise PlanError(
            f"{path} was changed after it was made, or made with another credential (its "
            "signature doesn't verify): nothing was applied; make the plan again"
        )


def dumps(plan: Plan) -> str:
    """The plan document as JSON text, keys in a fixed order."""
    return json.dumps(plan_to_document(plan), indent=2, ensure_ascii=False) + "\n"


def write_plan(plan: Plan, path: str) -> None:
    """Save the plan document atomically, so a reader never sees half a plan; to a device
    or FIFO (``/dev/stdout``) as a stream. A new file is readable by its owner only (it
    holds personal data)."""
    write_output(Path(path), dumps(plan).encode("utf-8"))


def read_plan(
    path: str,
    *,
    allow_redacted: bool = False,
    key: bytes | None = None,
    target: TargetIdentity | None = None,
) -> Plan:
    """The plan saved at ``path``: to apply to ``target``, signed under ``key``."""
    try:
        raw = read_regular_file(path, MAX_PLAN_BYTES)
        if len(raw) > MAX_PLAN_BYTES:
            raise PlanError(f"{path} is over {MAX_PLAN_BYTES // 2**20} MB: not a plan made here")
        text = raw.decode("utf-8")
    except NotAFile as error:
        raise PlanError(f"{path} is {error}") from None
    except FileNotFoundError:
        raise PlanError(f"{path}: no such plan file") from None
    except UnicodeDecodeError:
        raise PlanError(f"{path} is not a reconciler plan (not UTF-8 text)") from None
    except OSError as error:
        raise PlanError(f"can't read the plan {path}: {error.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanError(
            f"{path} is not a reconciler plan (not JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno})"
        ) from None
    return plan_from_document(doc, path=path, allow_redacted=allow_redacted, key=key, target=target)


def changed_sources(plan: Plan) -> list[str]:
    """What became of each source file whose bytes are no longer those the plan read."""
    changed = []
    for source in plan.sources:
        try:
            digest = hashlib.sha256(Path(source.path).read_bytes()).hexdigest()
        except OSError:
            changed.append(f"{source.path} is gone")
            continue
        if digest != source.sha256:
            changed.append(f"{source.path} changed")
    return changed
