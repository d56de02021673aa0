"""`nfbatch plan`: what `pulumi up` would declare for a stack file, worked out offline under Pulumi's mock runtime.

No Pulumi CLI, no credentials, no network. Values only AWS can know read "(known after deploy: …)"; encrypted
config values read "[secret]". Renders as text, markdown (for a pull-request comment) or JSON, or diffs two stacks.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import re
import textwrap
from pathlib import Path
from typing import Any

from facts import update_rules
from facts.contract import PROJECT, queue_arn_export
from facts.update_rules import Action
from nfbatch.errors import NfbatchError
from nfbatch.markdown import COMMENT_LIMIT, Section, fit, section_lines
from nfbatch.mockrun import SECRET_PLACEHOLDER, RecordingMocks, read_engine_config, run_program

UNKNOWN = "(known after deploy)"
SECRET = "[secret]"  # noqa: S105 - what the plan prints instead of a secret
# Outputs the program reads from resources; when the inputs do not fix them, only AWS knows them.
# digest: a pushed image's; ecsClusterArn: a Batch compute environment's (components/instance_records.py reads it)
COMPUTED = ("arn", "name", "bucket", "latestVersion", "repositoryUrl", "digest", "ecsClusterArn")
DOCUMENT_KEYS = ("policy", "assumeRolePolicy", "policyDocument")
JSON_KEYS = ("containerProperties", "defaultTags", "eventPattern")


class PlanMocks(RecordingMocks):
    """Answers with placeholders wherever the real value would come from AWS."""

    def answer(self, typ: str, name: str, inputs: dict) -> tuple[str, dict]:
        # Named placeholders show reviewers which resource a value comes from: "(known after deploy: batch-spot.arn)".
        state = dict(inputs)
        for key in COMPUTED:
            state.setdefault(key, unknown(f"{name}.{key}"))
        return unknown(f"{name}.id"), state

    def call(self, args):
        from facts.limits import partition_for

        self.calls.append((args.token, dict(args.args)))
        match args.token.rsplit(":", 1)[-1]:
            case "getAvailabilityZones":
                return {"names": [unknown(f"availability zone {i}") for i in range(1, 7)], "id": self.region}
            case "getRegion":
                return {"name": self.region, "region": self.region, "id": self.region}
            case "getCallerIdentity":
                return {"accountId": unknown("account id"), "arn": UNKNOWN, "userId": UNKNOWN, "id": UNKNOWN}
            case "getPartition":
                return {"partition": partition_for(self.region), "id": partition_for(self.region)}
            case "getAuthorizationToken":  # the head image's push credentials (components/head_image.py)
                return {"userName": "AWS", "password": SECRET_PLACEHOLDER, "id": self.region}
        raise NfbatchError(f"the plan cannot answer {args.token} offline")


def unknown(what: str) -> str:
    return f"{UNKNOWN[:-1]}: {what})"


def project_dir(explicit: str | None = None) -> Path:
    if explicit:
        return Path(explicit)
    here = Path.cwd()
    return here if (here / "Pulumi.yaml").is_file() else Path(__file__).resolve().parent.parent


def _hide(value: Any) -> Any:
    """Replace the secret placeholder wherever it ended up."""
    if isinstance(value, str):
        return value.replace(SECRET_PLACEHOLDER, SECRET)
    if isinstance(value, dict):
        return {k: _hide(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide(v) for v in value]
    return value


def _stack_config(stack: str, directory: Path) -> tuple[dict[str, str], list[str], list[str]]:
    """The stack file's config as the engine would hand it over, its encrypted keys, and notes on what the plan
    cannot show (a whole setting encrypted: planned with its defaults)."""
    stack_file = directory / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise NfbatchError(f"no stack file {stack_file}", "create it, or pick a stack with --stack")
    from settings.stack_file import StackFileError

    try:
        config, secret_keys = read_engine_config(stack_file)
    except StackFileError as error:
        raise NfbatchError(str(error), f"edit {stack_file}; `nfbatch config schema` describes a valid one") from None
    notes = []
    for key in secret_keys:
        if config[key] == SECRET_PLACEHOLDER:  # a whole setting is encrypted: its content cannot be planned
            del config[key]
            notes.append(f"{key} is encrypted; planned with its defaults")
    return config, secret_keys, notes


def _planned_resources(mocks: RecordingMocks) -> tuple[list[dict], list[dict], dict[str, str]]:
    """The recorded resources in plan order, with their policy documents and user data taken out to be shown whole."""
    names = {r.urn: r.name for r in mocks.registrations}
    resources, documents, user_data = [], [], {}
    for r in sorted(
        mocks.registrations, key=lambda r: (r.typ.startswith("aws:"), names.get(r.parent, ""), r.typ, r.name)
    ):
        inputs = dict(r.inputs)
        for key in DOCUMENT_KEYS:
            if isinstance(inputs.get(key), str):
                documents.append(
                    {"resource": r.name, "type": r.typ, "key": key, "document": json.loads(inputs.pop(key))}
                )
        for key in JSON_KEYS:
            if isinstance(inputs.get(key), str):
                inputs[key] = json.loads(inputs[key])
        if isinstance(inputs.get("userData"), str):
            user_data[r.name] = base64.b64decode(inputs["userData"]).decode()
            # The script itself is shown on its own; its digest stays an input, so a diff or --base sees a changed
            # boot script as the launch template's change (a new template version that rolls the instances).
            digest = hashlib.sha256(inputs["userData"].encode()).hexdigest()[:12]
            inputs["userData"] = f"(MIME multipart, shown under user data; sha256 {digest})"
        entry: dict[str, Any] = {"type": r.typ, "name": r.name, "parent": names.get(r.parent), "inputs": inputs}
        options = [o for o, on in (("protect", r.protect), ("retainOnDelete", r.retain_on_delete)) if on]
        if r.ignore_changes:
            options.append("ignoreChanges=" + ",".join(r.ignore_changes))
        if options:
            entry["options"] = options
        resources.append(entry)
    return resources, documents, user_data


def build_plan(stack: str, directory: Path | None = None) -> dict:
    """The plan of one stack file as plain data (the JSON format)."""
    from components.costs import estimate
    from settings import SettingsError, load_settings
    from settings.rules import warnings

    directory = directory or project_dir()
    config, secret_keys, notes = _stack_config(stack, directory)
    try:
        settings = load_settings(config, stack)
    except SettingsError as error:
        raise NfbatchError(_hide(error.summary), error.fix and _hide(error.fix)) from None
    notes += warnings(settings)
    mocks = PlanMocks(region=settings.region)
    outputs = run_program(directory / "__main__.py", mocks, stack, config, secret_keys)
    resources, documents, user_data = _planned_resources(mocks)
    shown_config = {k: json.loads(v) if v[:1] in "{[" else v for k, v in sorted(config.items())}
    shown_config.update({k: SECRET for k in secret_keys if k not in config})
    return _hide(
        {
            "stack": stack,
            "region": settings.region,
            "notes": notes,
            "config": shown_config,
            "costs": estimate(settings),
            "resources": resources,
            "iamPolicies": documents,
            "userData": user_data,
            "nextflowConfig": outputs.get("nextflowConfig"),
            "outputs": {k: v for k, v in sorted(outputs.items()) if k != "nextflowConfig"},
        }
    )


# --- flattening, shared by text, markdown and diff --------------------------------------------------------------


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested inputs as dotted keys with compact JSON leaves: `computeResources.maxVcpus: 256`."""
    if isinstance(value, dict) and (value or not prefix):
        flat: dict[str, str] = {}
        for key, item in sorted(value.items()):
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list) and value and any(isinstance(v, dict) for v in value):
        flat = {}
        for i, item in enumerate(value):
            flat.update(flatten(item, f"{prefix}[{i}]"))
        return flat
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # the mock wire turns every number into a float
    return {prefix: value if isinstance(value, str) else json.dumps(value)}


def _label(resource: dict) -> str:
    return f"{resource['type']} {resource['name']}"


def _short(resource: dict) -> str:
    return f"{resource['type'].rsplit(':', 1)[-1]} {resource['name']}"


def _cost_lines(costs: dict) -> list[str]:
    idle = ", ".join(f"{k} ${v:,.2f}" for k, v in costs["idleMonthly"].items())
    hour = ", ".join(f"{k} ${v:.4f}" for k, v in costs["perInstanceHour"].items())
    usage = costs["usage"]
    return [
        f"idle: ${costs['idleMonthlyTotal']:,.2f} per month ({idle})",
        f"per running instance: ${costs['perInstanceHourTotal']:.4f} per hour beyond EC2 ({hour})",
        f"usage: NAT ${usage['natPerGb']}/GB, S3 ${usage['s3StandardPerGbMonth']}/GB-month, "
        f"logs ${usage['logsPerGbIngested']}/GB ingested",
        *(
            [
                f"GPU queue: ${costs['gpuInstanceHour']['usd']:.3f} per hour of a "
                f"{costs['gpuInstanceHour']['instanceType']}"
            ]
            if "gpuInstanceHour" in costs
            else []
        ),
        *([f"Fargate head: ${costs['fargateHeadHour']:.4f} per hour of a run"] if "fargateHeadHour" in costs else []),
        *(
            [
                f"registry cache: ${cache['perGbMonth']:.2f}/GB-month of cached images (a pipeline's images, about "
                f"{cache['typicalGb']} GB: ${cache['typicalMonthly']:.2f}/month)"
                for cache in [costs["registryCache"]]
            ]
            if "registryCache" in costs
            else []
        ),
        *(
            [
                f"instance records: ${r['per1000Tasks']:.3f} per 1,000 tasks + ${r['per1000InstanceHours']:.3f} per "
                f"1,000 instance-hours ingested, ${r['storedPerGbMonth']:.2f}/GB-month kept {r['retentionDays']} "
                "days (0: for ever); one of the account's 10 CloudWatch Logs resource policies in the region"
                for r in [costs["instanceRecords"]]
            ]
            if "instanceRecords" in costs
            else []
        ),
        *(
            f"team {name}: "
            + (
                f"capped at {t['maxVcpus']} vCPUs on its own spot queue"
                if t["maxVcpus"]
                else f"{t['sharePercent']:g} % of the shared task queues when every team there has work, no cap"
            )
            + (f"; budget ${t['monthlyBudgetUsd']:,.2f} a month" if t["monthlyBudgetUsd"] else "; no budget")
            for name, t in costs.get("teams", {}).items()
        ),
        f"({costs['assumptions']})",
    ]


def render_text(plan: dict, width: int | None = None) -> str:
    """The plan as plain text. Notes, costs and resources wrap at `width` (by default the terminal's, COLUMNS first,
    as for the diff; 120 without one), going on indented, nothing cut; IAM documents, nextflow.config and user data
    print as they are, to be copied."""
    import shutil

    width = width or shutil.get_terminal_size((120, 24)).columns

    def wrap(line: str, indent: int) -> list[str]:
        return textwrap.wrap(line, width, subsequent_indent=" " * indent, break_on_hyphens=False) or [line]

    lines = [f"Plan for stack {plan['stack']} ({plan['region']}): {len(plan['resources'])} resources", ""]
    lines += [w for note in plan["notes"] for w in wrap(f"Note: {note}", 6)] + ([""] if plan["notes"] else [])
    lines += ["Cost estimate"]
    lines += [w for line in _cost_lines(plan["costs"]) for w in wrap(f"  {line}", 4)]
    lines += ["", "Resources"]
    for resource in plan["resources"]:
        parent = f" (in {resource['parent']})" if resource["parent"] else ""
        options = f" [{', '.join(resource['options'])}]" if resource.get("options") else ""
        lines += wrap(f"  {_label(resource)}{parent}{options}", 6)
        lines += [w for k, v in flatten(resource["inputs"]).items() for w in wrap(f"      {k}: {v}", 10)]
    lines += ["", "IAM policy documents"]
    for doc in plan["iamPolicies"]:
        lines.append(f"  {doc['resource']} ({doc['key']}):")
        lines += [f"    {line}" for line in json.dumps(doc["document"], indent=2).splitlines()]
    lines += ["", "nextflow.config"] + [f"  {line}" for line in (plan["nextflowConfig"] or "").splitlines()]
    for name, text in plan["userData"].items():
        lines += ["", f"User data of {name}"] + [f"  {line}" for line in text.splitlines()]
    return "\n".join(lines) + "\n"


def _markdown_sections(plan: dict) -> list[Section]:
    """The plan's details, each a collapsible section: resources with their inputs, IAM documents, the Nextflow
    config and the user data."""
    rows = []
    for resource in plan["resources"]:
        inputs = "<br>".join(f"`{k}`: {_cell(v)}" for k, v in flatten(resource["inputs"]).items())
        options = f" ({', '.join(resource['options'])})" if resource.get("options") else ""
        rows.append(
            [f"| `{resource['type']}` **{resource['name']}**{options} | {resource['parent'] or ''} | {inputs} |"]
        )
    documents = [
        [f"**{doc['resource']}** `{doc['key']}`", "", "```json", json.dumps(doc["document"], indent=2), "```", ""]
        for doc in plan["iamPolicies"]
    ]
    config = [["```groovy", (plan["nextflowConfig"] or "").rstrip(), "```", ""]]
    return [
        Section("Resources", rows, ["| resource | parent | inputs |", "|---|---|---|"], "resources"),
        Section("IAM policy documents", documents, unit="documents", table=False),
        Section("nextflow.config", config, unit="files", table=False),
        *(
            Section(f"User data of {name}", [["```", text.rstrip(), "```", ""]], unit="files", table=False)
            for name, text in plan["userData"].items()
        ),
    ]


def render_markdown(plan: dict, hint: str | None = None, limit: int = COMMENT_LIMIT) -> str:
    """The plan for a pull-request comment: summary and costs first, details collapsed. Over `limit` characters,
    a list naming every resource comes first and the details are cut, saying what was left out and where the whole
    plan is (`hint`)."""
    head = [
        f"### genomics-batch plan: `{plan['stack']}` ({plan['region']})",
        "",
        f"{len(plan['resources'])} resources, {len(plan['iamPolicies'])} IAM policy documents.",
        "",
    ]
    head += [f"> Note: {note}" for note in plan["notes"]] + ([""] if plan["notes"] else [])
    head += ["**Cost estimate**", ""]
    head += [f"- {line}" for line in _cost_lines(plan["costs"])] + [""]
    sections = _markdown_sections(plan)
    whole = "\n".join([*head, *(line for section in sections for line in section_lines(section, section.items))])
    if len(whole) <= limit:
        return whole
    names = [
        f"- `{r['type']}` **{r['name']}**" + (f" (in {r['parent']})" if r["parent"] else "") for r in plan["resources"]
    ]
    body = ["**Resources** (their inputs are under Resources below)", "", *names, ""]
    return fit(head, body, sections, hint or f"`nfbatch plan --stack {plan['stack']}`", limit)


def _cell(value: str) -> str:
    text = value.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."


# --- diff ---------------------------------------------------------------------------------------------------------


def _json(value: Any) -> str:
    """A value as a reviewer reads it: strings as they are, everything else as JSON; absent as "-"."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


def _effective_config(plan: dict) -> dict[str, str] | None:
    """Every setting's effective value (explicit or default), flattened like the plan's config; None when the
    plan's config cannot be loaded (it always can for a plan that was built)."""
    from settings import SettingsError, load_settings

    raw = {k: v if isinstance(v, str) else json.dumps(v) for k, v in plan["config"].items() if v != SECRET}
    try:
        data = load_settings(raw, plan["stack"]).model_dump(mode="json", by_alias=True, exclude={"stack"})
    except SettingsError:
        return None
    region = data.pop("region")
    return flatten({"aws:region": region, **{f"{PROJECT}:{k}": v for k, v in data.items()}})


def _config_rows(a: dict, b: dict, differ) -> None:
    """Settings whose effective values differ; one moved from its default to the same value set explicitly is not a
    change. A default is marked "(default)"."""
    explicit_a, explicit_b = flatten(a["config"]), flatten(b["config"])
    effective_a, effective_b = _effective_config(a), _effective_config(b)
    if effective_a is None or effective_b is None:
        effective_a, effective_b = explicit_a, explicit_b
    for key in sorted(effective_a.keys() | effective_b.keys() | explicit_a.keys() | explicit_b.keys()):
        left = explicit_a.get(key, effective_a.get(key))
        right = explicit_b.get(key, effective_b.get(key))
        if left == right or {left, right} <= {None, "{}"}:  # an empty section, its keys as rows of their own
            continue
        differ(
            f"config {key}",
            f"{_json(left)}{'' if key in explicit_a else ' (default)'}",
            f"{_json(right)}{'' if key in explicit_b else ' (default)'}",
        )


def _statements(document: dict | None) -> dict[str, dict]:
    statements = (document or {}).get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else statements
    return {s.get("Sid") or f"#{i}": s for i, s in enumerate(statements)}


def _iam_rows(a: dict, b: dict, differ) -> None:
    """IAM documents statement by statement and field by field; a list shows only the entries that differ."""
    docs_a = {(d["resource"], d["key"]): d["document"] for d in a["iamPolicies"]}
    docs_b = {(d["resource"], d["key"]): d["document"] for d in b["iamPolicies"]}
    for resource, key in sorted(docs_a.keys() | docs_b.keys()):
        left, right = _statements(docs_a.get((resource, key))), _statements(docs_b.get((resource, key)))
        for sid in sorted(left.keys() | right.keys()):
            fields_a, fields_b = left.get(sid, {}), right.get(sid, {})
            for field in sorted(fields_a.keys() | fields_b.keys()):
                value_a, value_b = fields_a.get(field), fields_b.get(field)
                if isinstance(value_a, list) and isinstance(value_b, list) and value_a != value_b:
                    only_a = [v for v in value_a if v not in value_b]
                    only_b = [v for v in value_b if v not in value_a]
                    value_a = [f"- {v}" for v in only_a] or ["(no others)"]
                    value_b = [f"+ {v}" for v in only_b] or ["(no others)"]
                differ(f"IAM {resource} {key} {sid}.{field}", _json(value_a), _json(value_b))


def diff_plans(a: dict, b: dict, labels: tuple[str, str] | None = None) -> list[dict]:
    """Every difference between two plans: settings, cost, resources present in one only, differing inputs, IAM
    statements and the Nextflow config. Each row holds the two values under `labels` (default: the stack names)."""
    rows = []
    left_label, right_label = labels or (a["stack"], b["stack"])

    def differ(item: str, left: Any, right: Any) -> None:
        if left != right:
            rows.append({"item": item, left_label: left, right_label: right})

    _config_rows(a, b, differ)
    differ("cost: idle per month", f"${a['costs']['idleMonthlyTotal']:,.2f}", f"${b['costs']['idleMonthlyTotal']:,.2f}")
    differ(
        "cost: per instance-hour",
        f"${a['costs']['perInstanceHourTotal']:.4f}",
        f"${b['costs']['perInstanceHourTotal']:.4f}",
    )
    res_a = {_short(r): flatten(r["inputs"]) for r in a["resources"]}
    res_b = {_short(r): flatten(r["inputs"]) for r in b["resources"]}
    opts_a = {_short(r): r.get("options", []) for r in a["resources"]}
    opts_b = {_short(r): r.get("options", []) for r in b["resources"]}
    for label in sorted(res_a.keys() | res_b.keys()):
        if label not in res_b or label not in res_a:
            differ(label, "declared" if label in res_a else "-", "declared" if label in res_b else "-")
            continue
        differ(f"{label} options", _json(opts_a[label]), _json(opts_b[label]))
        for key in sorted(res_a[label].keys() | res_b[label].keys()):
            differ(f"{label} {key}", _json(res_a[label].get(key)), _json(res_b[label].get(key)))
    _iam_rows(a, b, differ)
    differ("nextflow.config", a["nextflowConfig"], b["nextflowConfig"])
    return rows


# "(known after deploy: batch-spot.arn)": a value that comes from another resource of the same plan.
REFERENCE = re.compile(r"\(known after deploy: ([^)]+?)\.([A-Za-z]+)\)")


def _changed_by_references(inputs: dict[str, str], actions: dict[tuple, Action], by_name: dict) -> set[str]:
    """Inputs that change because a resource they refer to is replaced (every attribute is new) or is a launch
    template that gets a new version (its latestVersion is new)."""
    changed = set()
    for key, value in inputs.items():
        for name, attribute in REFERENCE.findall(value):
            for label in by_name.get(name, ()):
                action = actions.get(label)
                if action and (
                    action.kind == "replace"
                    or (attribute == "latestVersion" and label[0] == update_rules.LAUNCH_TEMPLATE)
                ):
                    changed.add(key)
    return changed


# How long `pulumi up` waits for a compute environment to leave UPDATING: the resource declares no Timeouts
# (terraform-provider-aws internal/service/batch/compute_environment.go, UpdateWithoutTimeout,
# `waitComputeEnvironmentUpdated(ctx, conn, d.Id(), d.Timeout(schema.TimeoutUpdate))`), so the SDK's "System default
# of 20 minutes" applies (terraform-plugin-sdk helper/schema/resource_data.go, ResourceData.Timeout), and customTimeouts
# on such a resource is a runtime error (pulumi/pulumi-terraform-bridge#2391).
PROVIDER_UPDATE_WAIT_MINUTES = 20


def head_environments(plan: dict) -> set[str]:
    """The compute environments the head queue uses (the on-demand one on an EC2-head stack): only their updates can
    stop a head. Found through the headQueueArn export and the queue's computeEnvironmentOrders."""
    head_queues = {name for name, _ in REFERENCE.findall(str(plan.get("outputs", {}).get(queue_arn_export("head"))))}
    return {
        name
        for r in plan["resources"]
        if r["type"] == update_rules.JOB_QUEUE and r["name"] in head_queues
        for key, value in flatten(r["inputs"]).items()
        if key.startswith("computeEnvironmentOrders")
        for name, _ in REFERENCE.findall(value)
    }


def infrastructure_update_note(
    resource_type: str, action: Action, inputs: dict[str, str], runs_heads: bool = False
) -> str:
    """What a running pipeline sees when an in-place change replaces a compute environment's instances: an
    infrastructure update, started by the same inputs the provider replaces the environment for when it cannot update
    it (docs.aws.amazon.com/batch/latest/userguide/updating-compute-environments.html: running jobs "are allowed to
    run until ... jobExecutionTimeoutMinutes has elapsed"; what Batch does then is undocumented). Fargate has no such
    update. Only an environment that runs heads (`runs_heads`) gets the note about heads."""
    if (
        resource_type != update_rules.COMPUTE_ENVIRONMENT
        or action.kind != "update"
        or inputs.get("computeResources.type") in ("FARGATE", "FARGATE_SPOT")
    ):
        return ""
    triggers = update_rules.CE_REPLACED_UNLESS_UPDATABLE
    if not any(k == t or k.startswith((f"{t}.", f"{t}[")) for k in action.keys for t in triggers):
        return ""
    minutes = inputs.get("updatePolicy.jobExecutionTimeoutMinutes", "30")  # the API's default
    note = f"replaces its instances: running jobs get {minutes} min to finish, then are stopped"
    if runs_heads:
        note += (
            "; a head still running then resumes on a new attempt only if Batch retries it, else resume it with "
            "nfbatch run <pipeline> --name <run> --resume"
        )
    if float(minutes) > PROVIDER_UPDATE_WAIT_MINUTES:
        note += (
            f"; pulumi up waits only {PROVIDER_UPDATE_WAIT_MINUTES} min for the update and may fail with a wait "
            "timeout while Batch carries on: wait until aws batch describe-compute-environments shows it VALID, "
            "then run pulumi refresh and pulumi up again"
        )
    return note


def _settled_actions(flat_a: dict[tuple, dict[str, str]], flat_b: dict[tuple, dict[str, str]]) -> dict[tuple, Action]:
    """The action for each resource in both plans, repeated until changes carried by references stop spreading."""
    by_name: dict[str, list[tuple]] = {}
    for label in flat_b:
        by_name.setdefault(label[1], []).append(label)
    both = sorted(flat_a.keys() & flat_b.keys())
    actions: dict[tuple, Action] = {}
    while True:  # references propagate changes; a few rounds reach the fixed point
        updated = {}
        for label in both:
            keys = {
                k for k in flat_a[label].keys() | flat_b[label].keys() if flat_a[label].get(k) != flat_b[label].get(k)
            }
            keys |= _changed_by_references(flat_b[label], actions, by_name)
            if keys:
                updated[label] = update_rules.action_for(label[0], sorted(keys), flat_b[label])
        if updated == actions:
            return actions
        actions = updated


def _added_and_removed(flat_a: dict[tuple, dict[str, str]], flat_b: dict[tuple, dict[str, str]]) -> list[dict]:
    """A create for each resource only `b` has, then a delete for each only `a` has, each sorted by type and name."""
    changes = [
        {"action": "create", "type": t, "name": n, "inputs": [], "because": [], "note": ""}
        for t, n in sorted(flat_b.keys() - flat_a.keys())
    ]
    changes += [
        {"action": "delete", "type": t, "name": n, "inputs": [], "because": [], "note": ""}
        for t, n in sorted(flat_a.keys() - flat_b.keys())
    ]
    return changes


def _change_order(change: dict) -> tuple:
    """Sort key of a change: those that lose data or work first, then replace, delete, create, update; type, name."""
    return (
        change["loses"] is None,
        ["replace", "delete", "create", "update"].index(change["action"]),
        change["type"],
        change["name"],
    )


def resource_changes(a: dict, b: dict) -> list[dict]:
    """What `pulumi up` would do to move from plan `a` to plan `b`: create, delete, update in place or replace each
    resource, by the provider's own rules (facts.update_rules)."""
    flat_a = {(r["type"], r["name"]): flatten(r["inputs"]) for r in a["resources"]}
    flat_b = {(r["type"], r["name"]): flatten(r["inputs"]) for r in b["resources"]}
    actions = _settled_actions(flat_a, flat_b)
    changes = _added_and_removed(flat_a, flat_b)
    heads = head_environments(b)
    changes += [
        {
            "action": act.kind,
            "type": t,
            "name": n,
            "inputs": list(act.keys),
            "because": list(act.because),
            "note": infrastructure_update_note(t, act, flat_b[(t, n)], runs_heads=n in heads) or act.note,
        }
        for (t, n), act in sorted(actions.items())
    ]
    parents = {(r["type"], r["name"]): r["parent"] for r in [*a["resources"], *b["resources"]]}
    for change in changes:
        loses = update_rules.HOLDS_DATA_OR_WORK.get(change["type"])
        change["loses"] = loses if change["action"] in ("replace", "delete") and loses else None
        change["holdsData"] = change["loses"]  # the name the pull-request check reads (nfbatch plan --format json)
        change["parent"] = parents.get((change["type"], change["name"]))
    return sorted(changes, key=_change_order)


def _change_lines(changes: list[dict], color: bool) -> list[str]:
    red, plain = ("\033[1;31m", "\033[0m") if color else ("", "")
    lines = []
    for c in changes:
        kind = c["type"].rsplit(":", 1)[-1]
        what = {"update": "update in place", "replace": "REPLACE", "create": "create", "delete": "DELETE"}[c["action"]]
        detail = ", ".join(c["because"] or c["inputs"])
        detail = f" ({c['note']})" * bool(c["note"]) + (f": {detail}" if detail else "")
        line = f"{what} {kind} {c['name']}{detail}"
        lines.append(f"{red}!! {line}; loses {c['loses']}{plain}" if c["loses"] else line)
    return lines


# pulumi preview's summary, in its order and words (pulumi/pulumi pkg/backend/display/diff.go, renderSummaryEvent:
# "%d to create" ... and "%d unchanged"); ours shows every count, zeros too, on one line.
PULUMI_OPERATIONS = ("create", "update", "replace", "delete")
COST_TOTALS = ("idleMonthlyTotal", "perInstanceHourTotal")


def change_summary(changes: list[dict], a: dict, b: dict) -> dict[str, int]:
    """How many resources each action touches, and how many in both plans nothing changes."""
    counts = {op: sum(c["action"] == op for c in changes) for op in PULUMI_OPERATIONS}
    both = {(r["type"], r["name"]) for r in a["resources"]} & {(r["type"], r["name"]) for r in b["resources"]}
    counts["unchanged"] = len(both) - counts["update"] - counts["replace"]
    return counts


def summary_line(summary: dict[str, int]) -> str:
    return ", ".join(f"{summary[op]} to {op}" for op in PULUMI_OPERATIONS) + f", {summary['unchanged']} unchanged"


def cost_delta(a: dict, b: dict) -> dict[str, dict[str, float]]:
    """The estimate's two totals before and after, and by how much they move."""
    before = {k: float(a["costs"].get(k, 0.0)) for k in COST_TOTALS}
    after = {k: float(b["costs"].get(k, 0.0)) for k in COST_TOTALS}
    return {"before": before, "after": after, "delta": {k: round(after[k] - before[k], 4) for k in COST_TOTALS}}


def _signed(value: float, digits: int) -> str:
    return "no change" if value == 0 else f"{'+' if value > 0 else '-'}${abs(value):,.{digits}f}"


def cost_delta_line(costs: dict[str, dict[str, float]]) -> str:
    before, after, delta = costs["before"], costs["after"], costs["delta"]
    return (
        f"cost: idle ${before['idleMonthlyTotal']:,.2f} → ${after['idleMonthlyTotal']:,.2f} a month "
        f"({_signed(delta['idleMonthlyTotal'], 2)}); per running instance-hour beyond EC2 "
        f"${before['perInstanceHourTotal']:.4f} → ${after['perInstanceHourTotal']:.4f} "
        f"({_signed(delta['perInstanceHourTotal'], 4)})"
    )


def compare(a: dict, b: dict, rows: list[dict] | None = None, labels: tuple[str, str] | None = None) -> dict:
    """What moving from plan `a` to plan `b` does, as plain data (the JSON of --diff and --base): the summary
    counts, each resource's change, the cost delta and every difference, under `labels` (default: the stacks)."""
    left, right = labels or (a["stack"], b["stack"])
    changes = resource_changes(a, b)
    return {
        "stacks": [left, right],
        "summary": change_summary(changes, a, b),
        "costs": cost_delta(a, b),
        "changes": changes,
        "differences": diff_plans(a, b, (left, right)) if rows is None else rows,
    }


def _difference_sections(rows: list[dict], left: str, right: str) -> list[Section]:
    """The differences for reviewers, most telling first: settings, IAM statements, the Nextflow config as a
    unified diff, then resource inputs (the largest). Cost rows are left to the summary's cost line."""
    groups: dict[str, list[list[str]]] = {"config ": [], "IAM ": [], "": []}
    config_diff: list[str] = []
    for r in rows:
        if r["item"] == "nextflow.config":
            before, after = (r[label] or "" for label in (left, right))
            config_diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), left, right, lineterm=""))
        elif not r["item"].startswith("cost: "):
            prefix = next(p for p in groups if r["item"].startswith(p))
            groups[prefix].append([f"| {_cell(r['item'])} | {_cell(str(r[left]))} | {_cell(str(r[right]))} |"])
    lead = [f"| item | {left} | {right} |", "|---|---|---|"]
    sections = [
        Section(f"Settings ({len(groups['config '])})", groups["config "], lead),
        Section(f"IAM statements ({len(groups['IAM '])})", groups["IAM "], lead),
        Section("nextflow.config", [["```diff", *config_diff, "```", ""]], unit="files", table=False),
        Section(f"Resource inputs and options ({len(groups[''])})", groups[""], lead),
    ]
    return [s for s in sections if s.items and (s.table or config_diff)]


def _comparison_markdown(report: dict, title: str, hint: str) -> str:
    left, right = report["stacks"]
    head = [
        f"### genomics-batch plan: {title}",
        "",
        f"**{summary_line(report['summary'])}**",
        "",
        "**Cost**" + cost_delta_line(report["costs"]).removeprefix("cost"),
        "",
    ]
    changes = [
        f"- {'**' + line + '**' if line.startswith('!!') else line}" for line in _change_lines(report["changes"], False)
    ]
    body = [f"What `pulumi up` would do going from `{left}` to `{right}`:", "", *(changes or ["- nothing"]), ""]
    return fit(head, body, _difference_sections(report["differences"], left, right), hint)


def render_comparison(
    report: dict, fmt: str, color: bool = False, width: int = 120, title: str = "", hint: str = ""
) -> str:
    """A `compare` report as JSON, markdown that fits a comment (`hint`: where the whole plan is) or text that fits
    `width`; it opens with the summary in Pulumi's words."""
    left, right = report["stacks"]
    if fmt == "json":
        return json.dumps(report, indent=2) + "\n"
    if fmt == "markdown":
        return _comparison_markdown(report, title or f"`{left}` → `{right}`", hint or "the plan of both stacks")
    plain_title = title.replace("`", "") or f"{left} → {right}"  # titles are markdown: code spans read as names
    out = textwrap.wrap(f"{plain_title}: {summary_line(report['summary'])}", width)
    for line in _change_lines(report["changes"], color):
        out += textwrap.wrap(line, width, initial_indent="  ", subsequent_indent="      ", break_on_hyphens=False)
    out += textwrap.wrap(cost_delta_line(report["costs"]), width, subsequent_indent="  ")
    rows = report["differences"]
    return "\n".join([*out, "", *(_columns(rows, left, right, width) if rows else ["No differences."])]) + "\n"


def render_diff(a: dict, b: dict, rows: list[dict], fmt: str, color: bool = False, width: int = 120) -> str:
    """`nfbatch plan --diff`: what `pulumi up` would do going from stack `a` to stack `b`."""
    return render_comparison(
        compare(a, b, rows),
        fmt,
        color,
        width,
        hint=f"`nfbatch plan --stack {a['stack']} --diff {b['stack']}`",
    )


def _columns(rows: list[dict], left: str, right: str, width: int) -> list[str]:
    """Three columns that fit `width`: long items and values wrap onto further lines, nothing is cut."""
    item_width = min(max([len(r["item"]) for r in rows] + [4]), max(20, width * 2 // 5))
    value_width = max(12, (width - item_width - 4) // 2)
    lines = [f"{'item':<{item_width}}  {left:<{value_width}}  {right}"]
    for row in rows:
        cells = [
            textwrap.wrap(str(text).replace("\n", " "), w, break_long_words=True, break_on_hyphens=False) or [""]
            for text, w in ((row["item"], item_width), (row[left], value_width), (row[right], value_width))
        ]
        for i in range(max(len(c) for c in cells)):
            parts = [c[i] if i < len(c) else "" for c in cells]
            lines.append(f"{parts[0]:<{item_width}}  {parts[1]:<{value_width}}  {parts[2]}".rstrip())
    return lines


def render(plan: dict, fmt: str, hint: str | None = None) -> str:
    """One plan as JSON, markdown that fits a comment (`hint`: where the whole plan is, when cut) or text."""
    if fmt == "json":
        return json.dumps(plan, indent=2) + "\n"
    return render_markdown(plan, hint) if fmt == "markdown" else render_text(plan)
