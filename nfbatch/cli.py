"""The `nfbatch` command line: argument parsing, rich tables, `--json` for scripts, and clean errors.

Exit codes: 0 done, 1 a run failed, a doctor check failed or `plan --expect-no-changes` found a change, 2 bad input
or an AWS error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from facts.registries import UPSTREAM_BY_KEY
from nfbatch import maintenance, runs
from nfbatch.aws import Aws, explain
from nfbatch.errors import NfbatchError
from nfbatch.stack import StackOutputs, load_outputs

DESCRIPTION = (
    "Run and watch Nextflow pipelines on a genomics-batch stack (AWS Batch): submit runs, follow their "
    "logs, stop them, check the stack's health, and plan stack changes offline."
)
RUN_EPILOG = """examples:
  nfbatch run hello --watch
  nfbatch run nf-core/rnaseq -r 3.14.0 --profile test --name rna-1 -- --outdir s3://my-results/rna-1

Everything after `--` is passed to `nextflow run` unchanged (pipeline parameters such as --outdir, or Nextflow
options such as -with-report); quote values with spaces as you would in a shell."""


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("genomics-batch")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nfbatch", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"nfbatch {version()}")
    parser.add_argument("--stack", help="Pulumi stack whose outputs to read (default: the selected stack)")
    parser.add_argument(
        "--outputs", help="JSON file of stack outputs (`pulumi stack output --json`); also NFBATCH_OUTPUTS"
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, help_text: str, json_flag: bool = True, epilog: str | None = None) -> argparse.ArgumentParser:
        sub = verbs.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if json_flag:
            sub.add_argument("--json", action="store_true", help="machine-readable output")
        return sub

    _add_run_verbs(verb)
    _add_stack_verbs(verb)
    return parser


def _add_run_verbs(verb: Callable[..., argparse.ArgumentParser]) -> None:
    """The verbs of pipeline runs: run, status, teams, logs and stop."""
    run = verb("run", "submit a pipeline run to the stack's head queue", json_flag=True, epilog=RUN_EPILOG)
    run.add_argument("pipeline", help="pipeline to run, e.g. hello or nf-core/rnaseq")
    run.add_argument("-r", "--revision", help="pipeline revision (branch, tag or commit)")
    run.add_argument("--profile", help="Nextflow config profile(s)")
    run.add_argument("--params-file", type=Path, help="local params file, uploaded to the work bucket")
    run.add_argument("--name", help="run name (default: pipeline plus a timestamp); reuse it with --resume")
    run.add_argument("--resume", action="store_true", help="resume the run with this --name from its cache")
    run.add_argument("--team", help="on a stack shared by teams: the team to run as (required there)")
    run.add_argument(
        "--unqualified-registry",
        metavar="HOST|none",
        help="route image names without a registry through the stack's cache of HOST (default: the cache of the "
        "registry the pipeline's own config names, e.g. quay.io for nf-core since tools 2.8; Docker Hub's only when "
        "asked); none: no routing",
    )
    run.add_argument("--watch", action="store_true", help="follow the run until it ends")
    run.add_argument("--interval", type=float, default=15.0, help=argparse.SUPPRESS)

    status = verb("status", "recent runs, or one run's detail with its task counts")
    status.add_argument("run", nargs="?", help="run name or head job id")
    status.add_argument("--limit", type=int, default=20, help="how many recent runs (default 20)")
    status.add_argument("--team", help="only this team's runs")

    verb(
        "teams",
        "each team's running vCPUs, active jobs by state and queue, and spend against its budget (stacks "
        "shared by teams)",
    )

    logs = verb("logs", "a run's head log, or its task failures")
    logs.add_argument("run", help="run name or head job id")
    logs.add_argument("--follow", action="store_true", help="keep reading until the run ends")
    logs.add_argument("--tasks", choices=["failed", "all"], help="show task jobs' reasons and log tails instead")
    logs.add_argument("--interval", type=float, default=5.0, help=argparse.SUPPRESS)

    stop = verb("stop", "terminate a run's head job; Nextflow cancels its tasks")
    stop.add_argument("run", help="run name or head job id")
    _add_cost_verb(verb)


def _add_cost_verb(verb: Callable[..., argparse.ArgumentParser]) -> None:
    """`nfbatch cost`: what a run (or every run since a time) cost, by process, head and total (nfbatch/cost.py)."""
    cost = verb(
        "cost",
        "what a run cost: by process, its head, idle instance time and in total, with the spot saving",
        json_flag=False,
    )
    cost.add_argument("run", nargs="?", help="run name or head job id (or --since for every run since then)")
    cost.add_argument("--since", help="price every run created since then, e.g. 30d, 12h or 2w")
    cost.add_argument("--team", help="only this team's runs (a named run must be the team's)")
    cost.add_argument("--format", choices=["text", "json"], default="text", help="text (default) or json")


def _add_stack_verbs(verb: Callable[..., argparse.ArgumentParser]) -> None:
    """The verbs of the stack itself: doctor, prune-job-definitions, config and plan."""
    verb("doctor", "check a deployed stack and print the fix for every problem")

    prune = verb("prune-job-definitions", "deregister stale nf-* job definitions (dry run unless --apply)")
    prune.add_argument(
        "--older-than", type=int, default=30, metavar="DAYS", help="unused for this many days (default 30)"
    )
    mode = prune.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", default=True, help="only list them (the default)")
    mode.add_argument("--apply", action="store_true", help="deregister them")

    config = verb("config", "print the stack's nextflow.config, or the stack-file schema or reference", json_flag=False)
    config.add_argument(
        "what",
        nargs="?",
        choices=["nextflow", "schema", "reference"],
        default="nextflow",
        help="nextflow (default): the deployed stack's nextflow.config; schema: the JSON Schema of "
        "Pulumi.<stack>.yaml; reference: every setting with its default, as markdown",
    )
    config.add_argument(
        "--team",
        help="on a stack shared by teams: the team whose nextflow.config to print "
        "(required there: its tasks need the team's share identifier)",
    )
    config.add_argument(
        "--unqualified-registry",
        metavar="HOST|none",
        help="route image names without a registry through the stack's cache of HOST (the printed config has it "
        "commented out by default: it breaks Docker Hub names such as ubuntu:22.04); none: drop it",
    )
    _add_plan_verb(verb)


def _add_plan_verb(verb: Callable[..., argparse.ArgumentParser]) -> None:
    """`nfbatch plan`: one stack offline, or what a change does (--base) or what differs from another (--diff)."""
    plan = verb(
        "plan", "what `pulumi up` would declare, worked out offline (no credentials), with costs", json_flag=False
    )
    plan.add_argument("--stack", dest="plan_stack", help="stack file to plan (default: the global --stack, or dev)")
    plan.add_argument(
        "--format",
        choices=["text", "markdown", "json"],
        default="text",
        help="text (default); markdown for a pull-request comment, always under 65,000 characters; json for scripts",
    )
    against = plan.add_mutually_exclusive_group()
    against.add_argument("--diff", metavar="OTHER_STACK", help="show what differs from another stack file")
    against.add_argument(
        "--base",
        metavar="REF",
        help="show what the working tree changes: the stack planned at git ref REF (its code and stack file; "
        "none there: a new stack) against the working tree",
    )
    plan.add_argument(
        "--expect-no-changes",
        action="store_true",
        help="with --base or --diff: exit 1 when anything differs, 0 when nothing does; bad input or a failed "
        "plan still exits 2, so CI tells a change from an error (pulumi preview --expect-no-changes exits 255 "
        "for both in older Pulumi CLIs: pulumi/pulumi#8992; newer CLIs exit 7 for changes: pulumi/pulumi#5144, "
        "fixed by #22176)",
    )
    plan.add_argument(
        "--full-plan-hint",
        metavar="TEXT",
        help="where the whole plan is, named when markdown must leave details out (default: the nfbatch "
        "command that prints it), e.g. 'the plans artifact of this workflow run'",
    )
    plan.add_argument("--project-dir", help="the genomics-batch project (default: here, or nfbatch's own)")


def check_stack_files(directory: Path, named: dict[str, str | None]) -> None:
    """Each stack a plan option names has its Pulumi.<stack>.yaml in the project, or the error says which option
    named which missing file, and which stacks there are (a file name given for a stack name is said to be one)."""
    for option, stack in named.items():
        if stack is None or (directory / f"Pulumi.{stack}.yaml").is_file():
            continue
        stacks = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in directory.glob("Pulumi.*.yaml"))
        given = Path(stack).name
        meant = given.removeprefix("Pulumi.").removesuffix(".yaml") if given.endswith((".yaml", ".yml")) else None
        raise NfbatchError(
            f"{option} {stack}: no stack file {directory / f'Pulumi.{stack}.yaml'}"
            + (f" ({option} takes a stack name, such as {meant}, not a file)" if meant else ""),
            f"name a stack of {directory}: " + " or ".join(f"{option} {s}" for s in stacks)
            if stacks
            else f"create {directory / f'Pulumi.{stack}.yaml'} (docs/configuration.md lists every key)",
        )


def use_color(stream) -> bool:
    """ANSI color only on a terminal, and never when NO_COLOR is set and not empty (no-color.org: "when present and
    not an empty string (regardless of its value), prevents the addition of ANSI color"). rich's Console, which
    prints everything else, applies the same rule itself (rich/console.py: `NO_COLOR` ... `!= ""`)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def split_nextflow_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Arguments after the first `--` go to Nextflow untouched."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


# Where the exported config's commented-out docker scope starts (components/head_job.py, EXPORT_INSTRUCTION).
COMMENTED_DOCKER_SCOPE = "\n// Uncomment for pipelines whose own config sets docker.registry"


def asked_docker_scope(host: str, uri: str) -> str:
    """The docker scope the head writes for NF_UNQUALIFIED_REGISTRY=host (components/head_job.py _docker_scope, which
    imports Pulumi; tests/test_registry_routing.py checks the two agree byte for byte)."""
    why = f"Asked for with --unqualified-registry {host}: names without a registry use its cache."
    if host in UPSTREAM_BY_KEY["docker-hub"].hosts:
        # ECR User Guide, pull-through-cache-working-pulling: "For Docker Hub official images, the /library prefix
        # must be included".
        why += "\n    // Docker Hub's official images need library/ here: library/ubuntu:22.04, not ubuntu:22.04."
    named = "Names with a registry (quay.io/..., public.ecr.aws/..., ghcr.io/...) are pulled as named."
    return f"\ndocker {{\n    // {why}\n    // {named}\n    registry = '{uri}'\n}}\n"


def nextflow_config(outputs: StackOutputs, team: str | None, unqualified_registry: str | None = None) -> str:
    """The nextflow.config to launch from a laptop: the stack's, or on a stack shared by teams the team's own. A
    fair-share queue refuses a task without a share identifier (SubmitJob reference), so a team stack exports no
    stack-wide config and `--team` is required there (and refused on a stack without teams). Its docker scope is
    commented out (any pipeline may use it); `unqualified_registry` makes it active for that host's cache (or drops
    it: none), checked as `nfbatch run --unqualified-registry` checks it."""
    entry = outputs.team(team)
    config = (entry or outputs.values).get("nextflowConfig")
    if not isinstance(config, str) or not config:
        where = f"teams.{team}.nextflowConfig" if entry else "nextflowConfig"
        raise NfbatchError(
            f"the stack outputs have no {where}", "deploy the stack with this version of genomics-batch (`pulumi up`)"
        )
    if unqualified_registry is None:
        return config
    caches = outputs.values.get("registryCaches") or {}
    runs.check_unqualified_registry(unqualified_registry, caches)
    base = config.split(COMMENTED_DOCKER_SCOPE)[0]
    if unqualified_registry == "none":
        return base
    return base + asked_docker_scope(unqualified_registry, caches[unqualified_registry])


class Cli:
    def __init__(self, args: argparse.Namespace, nextflow_args: list[str], console: Console):
        self.args, self.nextflow_args, self.console = args, nextflow_args, console
        self._aws: Aws | None = None  # made by dispatch once the stack outputs name the region

    @property
    def aws(self) -> Aws:
        """The AWS session of the verbs that call AWS (dispatch makes it before it calls one)."""
        if self._aws is None:
            raise RuntimeError("no AWS session yet: dispatch makes it from the stack outputs' region")
        return self._aws

    def emit_json(self, value) -> None:
        self.console.print_json(json.dumps(value, default=str))

    def dispatch(self) -> int:
        args = self.args
        if args.verb == "run":  # validate before reading outputs or calling AWS
            name = runs.check_run_name(args.name) if args.name is not None else runs.new_run_name(args.pipeline)
            if args.resume and not args.name:
                raise NfbatchError("--resume needs --name: the run name selects the cache to resume from")
            self.request = runs.RunRequest(
                args.pipeline,
                name,
                self.nextflow_args,
                args.revision,
                args.profile,
                args.params_file,
                args.resume,
                args.team,
                unqualified_registry=args.unqualified_registry,
            )
            runs.validate_request(self.request)
        elif self.nextflow_args:
            raise NfbatchError("arguments after `--` are only for `nfbatch run`")
        if args.verb == "prune-job-definitions" and args.older_than < 1:
            raise NfbatchError(f"--older-than {args.older_than}: must be at least 1 day")
        if args.verb == "status" and args.limit < 1:
            raise NfbatchError(f"--limit {args.limit}: must be at least 1")
        if args.verb == "status" and args.team is not None and args.run:
            raise NfbatchError(
                "--team filters the list of recent runs; a named run is shown whoever ran it",
                f"drop --team, or drop the run name: nfbatch status --team {args.team}",
            )
        if args.verb == "plan":  # offline: no stack outputs, no AWS
            return self.do_plan()
        if args.verb == "config" and args.what != "nextflow":  # offline, from the settings model
            return self.print_settings_document()
        outputs = load_outputs(args.stack, args.outputs)
        if args.verb == "config":
            sys.stdout.write(nextflow_config(outputs, args.team, args.unqualified_registry))
            return 0
        self._aws = Aws(outputs["region"])
        return getattr(self, "do_" + args.verb.replace("-", "_"))(outputs)

    def print_settings_document(self) -> int:
        """`nfbatch config schema|reference`: offline, from the settings model; the nextflow.config options refused."""
        args = self.args
        if args.team is not None:
            raise NfbatchError(
                f"--team picks a team's nextflow.config; the {args.what} is the same for every team",
                f"drop --team: nfbatch config {args.what}",
            )
        if args.unqualified_registry is not None:
            raise NfbatchError(
                f"--unqualified-registry changes the nextflow.config, not the {args.what}",
                f"drop --unqualified-registry: nfbatch config {args.what}",
            )
        from settings import reference

        sys.stdout.write(reference.schema_text() if args.what == "schema" else reference.config_table())
        return 0

    # --- verbs ------------------------------------------------------------------------------------------------
    def do_plan(self) -> int:
        from nfbatch import plan

        args = self.args
        if args.expect_no_changes and not (args.base or args.diff):
            raise NfbatchError(
                "--expect-no-changes compares two plans: it needs --base REF or --diff OTHER_STACK",
                "add --base <ref> (e.g. --base origin/main) or --diff <stack>",
            )
        directory = plan.project_dir(args.project_dir)
        stack = args.plan_stack or args.stack or "dev"
        check_stack_files(directory, {"--stack": None if args.base else stack, "--diff": args.diff})
        if args.base:
            from nfbatch.plan_base import compare_with_base

            report, title, hint = compare_with_base(stack, directory, args.base)
        elif args.diff:
            first, other = plan.build_plan(stack, directory), plan.build_plan(args.diff, directory)
            report, title, hint = plan.compare(first, other), "", f"`nfbatch plan --stack {stack} --diff {args.diff}`"
        else:
            sys.stdout.write(plan.render(plan.build_plan(stack, directory), args.format, args.full_plan_hint))
            return 0
        width = shutil.get_terminal_size((120, 24)).columns
        text = plan.render_comparison(
            report, args.format, use_color(sys.stdout), width, title, args.full_plan_hint or hint
        )
        sys.stdout.write(text)
        return 1 if args.expect_no_changes and (report["changes"] or report["differences"]) else 0

    def do_run(self, outputs) -> int:
        submitted = runs.submit_run(self.aws, outputs, self.request)
        if self.args.json:
            self.emit_json(
                {
                    "run": submitted.run_name,
                    "headJobId": submitted.job_id,
                    "jobName": submitted.job_name,
                    "paramsFile": submitted.params_uri,
                }
            )
        else:
            self.console.print(f"run [bold]{submitted.run_name}[/] submitted: head job {submitted.job_id}")
        if not self.args.watch:
            return 0
        return self.watch(outputs, submitted.run_name)

    def watch(self, outputs, run: str) -> int:
        try:
            with self.console.status(f"run {run}: submitted") as line:
                while True:
                    detail = runs.run_detail(self.aws, outputs, run)
                    line.update(f"run {run}: {self.describe(detail)}")
                    if detail["state"] in runs.TERMINAL:
                        break
                    time.sleep(self.args.interval)
        except KeyboardInterrupt:
            self.console.print(f"stopped watching; the run goes on (stop it with `nfbatch stop {run}`)")
            return 130
        self.console.print(f"run {run}: {self.describe(detail)}")
        return 0 if detail["state"] == "SUCCEEDED" else 1

    @staticmethod
    def describe(detail: dict) -> str:
        counts = ", ".join(f"{n} {s.lower()}" for s, n in detail["tasks"].items() if n)
        return f"{detail['state']} · tasks: {counts or 'none yet'}"

    def do_status(self, outputs) -> int:
        if self.args.run:
            detail = runs.run_detail(self.aws, outputs, self.args.run)
            if self.args.json:
                self.emit_json(detail)
                return 0
            table = Table(title=f"run {detail['run']}", show_header=False)
            for key in (
                "team",
                "pipeline",
                "state",
                "reason",
                "startedAt",
                "stoppedAt",
                "durationSeconds",
                "headJobId",
            )[0 if detail["team"] else 1 :]:
                table.add_row(key, str(detail[key] if detail[key] is not None else "-"))
            table.add_row("tasks", ", ".join(f"{s.lower()} {n}" for s, n in detail["tasks"].items()))
            self.console.print(table)
            return 0
        recent = runs.recent_runs(self.aws, outputs, self.args.limit, self.args.team)
        if self.args.json:
            self.emit_json(recent)
            return 0
        # Readable at 80 columns and when piped: run names fold rather than vanish, the state, start and duration
        # never wrap, and the 36-character head job id shows only on wide terminals (`--json` always has it).
        wide = self.console.width >= 120
        table = Table(title=f"recent runs of team {self.args.team}" if self.args.team else "recent runs")
        table.add_column("run", overflow="fold", ratio=3)
        table.add_column("pipeline", overflow="ellipsis", max_width=28, ratio=2)
        for column in ("state", "started", "duration"):
            table.add_column(column, no_wrap=True, justify="right" if column == "duration" else "left")
        if wide:
            table.add_column("head job", no_wrap=True)
        for r in recent:
            duration = (
                f"{r['durationSeconds'] // 60}m{r['durationSeconds'] % 60:02d}s"
                if r["durationSeconds"] is not None
                else "-"
            )
            started = (r["startedAt"] or "-")[:16].replace("T", " ")
            row = [r["run"], r["pipeline"], r["state"], started, duration] + ([r["headJobId"]] if wide else [])
            table.add_row(*row)
        self.console.print(
            table
            if recent
            else "no runs on this stack's head queue" + (f" for team {self.args.team}" if self.args.team else "")
        )
        return 0

    def do_teams(self, outputs) -> int:
        from nfbatch.teams import HOLDING_VCPUS, team_budgets, team_usage

        if not outputs.teams:
            raise NfbatchError(
                "this stack has no teams", "add teams under genomics-batch:teams (docs/teams.md, Add a team)"
            )
        usage, budgets = team_usage(self.aws, outputs), team_budgets(self.aws, outputs)
        for name, budget in budgets.items():
            usage[name]["budget"] = budget
        if self.args.json:
            self.emit_json(usage)
            return 0
        table = Table(title="teams")
        for column in (
            "team",
            "weight",
            "cap",
            "running vCPUs",
            "active jobs (queue: state count)",
            "budget this month",
        ):
            table.add_column(column, overflow="fold")
        for name, u in usage.items():
            jobs = "; ".join(
                f"{queue}: " + ", ".join(f"{s.lower()} {n}" for s, n in states.items())
                for queue, states in u["jobs"].items()
            )
            table.add_row(
                name,
                "-" if u["weight"] is None else f"{u['weight']:g}",
                "-" if u["maxVcpus"] is None else str(u["maxVcpus"]),
                f"{u['runningVcpus']:g}",
                jobs or "none",
                budget_cell(u.get("budget")),
            )
        self.console.print(table)
        self.console.print(
            f"running vCPUs: jobs {' or '.join(s.lower() for s in HOLDING_VCPUS)} on an instance; "
            "spend: AWS Budgets, updated several times a day",
            style="dim",
        )
        return 0

    def do_logs(self, outputs) -> int:
        if self.args.tasks:
            reports = runs.failed_task_reports(self.aws, outputs, self.args.run, self.args.tasks)
            if self.args.json:
                self.emit_json(reports)
                return 0
            if not reports:
                self.console.print(f"no {'failed ' if self.args.tasks == 'failed' else ''}tasks in this run")
            for r in reports:
                self.console.rule(f"{r['jobName']} ({r['jobId']}): {r['state']}")
                self.console.print(
                    f"reason: {r['statusReason'] or '-'}; container: {r['reason'] or '-'}; "
                    f"exit code: {r['exitCode'] if r['exitCode'] is not None else '-'}"
                )
                if r.get("hint"):
                    self.console.print(f"hint: {r['hint']}", markup=False, highlight=False)
                for line in r["logTail"]:
                    self.console.print(line, markup=False, highlight=False)
            return 0
        events = runs.follow_head_log(self.aws, outputs, self.args.run, self.args.follow, self.args.interval)
        try:
            if self.args.json:
                self.emit_json([{"timestamp": e["timestamp"], "message": e["message"]} for e in events])
            else:
                for event in events:
                    self.console.print(event["message"], markup=False, highlight=False)
        except KeyboardInterrupt:
            return 130
        return 0

    def do_cost(self, outputs) -> int:
        from nfbatch import cost

        args = self.args
        if bool(args.run) == bool(args.since):
            raise NfbatchError(
                "cost prices one run, or every run since a time" + (": not both" if args.run else ""),
                "give a run name or head job id, or --since 30d",
            )
        if args.since:
            cost.since_millis(args.since)  # a bad span is refused before any AWS call
            result = cost.price_runs(self.aws, outputs, args.since, args.team)
        else:
            result = cost.price_run(self.aws, outputs, args.run, args.team)
        if args.format == "json":
            self.emit_json(result)
            return 0
        for line in cost.text_lines(result):
            self.console.print(line, markup=False, highlight=False)
        return 0

    def do_stop(self, outputs) -> int:
        result = runs.stop_run(self.aws, outputs, self.args.run, "stopped with nfbatch stop")
        if self.args.json:
            self.emit_json(result)
        elif result["terminated"]:
            self.console.print(
                f"run {result['run']}: head job {result['headJobId']} terminated; Nextflow cancels "
                f"{len(result['activeTasks'])} active task job(s): "
                f"{', '.join(result['activeTasks']) or 'none'}"
            )
        else:
            self.console.print(f"run {result['run']} had already ended ({result['state']}); nothing to stop")
        return 0

    def do_doctor(self, outputs) -> int:
        checks = maintenance.doctor(self.aws, outputs, self.args.stack)
        if self.args.json:
            self.emit_json(checks)
        else:
            table = Table(title="stack health")
            for column in ("check", "result", "detail", "fix"):
                table.add_column(column)
            for c in checks:
                table.add_row(c["check"], "[green]ok[/]" if c["ok"] else "[red]FAIL[/]", c["detail"], c["fix"] or "")
            self.console.print(table)
        return 0 if all(c["ok"] for c in checks) else 1

    def do_prune_job_definitions(self, outputs) -> int:
        stale = maintenance.stale_job_definitions(self.aws, outputs, self.args.older_than)
        if self.args.apply:
            maintenance.deregister(self.aws, stale)
        if self.args.json:
            self.emit_json({"deregistered" if self.args.apply else "wouldDeregister": stale})
            return 0
        verb = "deregistered" if self.args.apply else "would deregister (dry run; --apply to do it)"
        self.console.print(f"{len(stale)} stale nf-* job definition(s) {verb}")
        for d in stale:
            self.console.print(f"  {d['name']}:{d['revision']}", markup=False)
        return 0


def budget_cell(budget: dict | None) -> str:
    """A team's spend against its budget, e.g. "$1,230 of $1,500 (82 %), forecast $1,700"."""
    if budget is None:
        return "-"
    if "error" in budget:
        return f"cannot read {budget['budgetName']}: {budget['error']}"
    share = f" ({budget['actualUsd'] / budget['limitUsd']:.0%})" if budget["limitUsd"] else ""
    return (
        f"${budget['actualUsd']:,.0f} of ${budget['limitUsd']:,.0f}{share.replace('%', ' %')}, "
        f"forecast ${budget['forecastUsd']:,.0f}"
    )


@cache
def _end_without_a_final_collection() -> None:
    """At exit the interpreter runs one last cyclic collection over everything still alive; after a plan that is
    pulumi_aws and the whole mock run, 0.6 s of a 1.9 s `nfbatch plan` (bench/plan_benchmark.py). The process is
    ending and the OS takes its memory back, so the heap is frozen out of that collection (gc.freeze), after the
    event loops that need closing are closed, while the collector can still list them."""

    def freeze() -> None:
        mockrun = sys.modules.get("nfbatch.mockrun")
        if mockrun is not None:
            mockrun.close_idle_event_loops()
        gc.freeze()

    atexit.register(freeze)


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    _end_without_a_final_collection()
    own, nextflow_args = split_nextflow_args(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(own)
    console = console or Console()
    errors = Console(stderr=True, soft_wrap=True)  # unwrapped: commands in fixes stay copyable
    cli = Cli(args, nextflow_args, console)
    try:
        return cli.dispatch()
    except NfbatchError as error:
        label = "[red]error:[/]" if error.exit_code else "note:"
        errors.print(f"{label} {escape(error.message)}", highlight=False)
        if error.fix:
            errors.print(f"fix: {escape(error.fix)}", highlight=False)
        return error.exit_code
    except (ClientError, BotoCoreError) as error:
        explained = explain(error, cli._aws)  # None when AWS failed before dispatch made the session
        errors.print(f"[red]error:[/] {escape(explained.message)}", highlight=False)
        if explained.fix:
            errors.print(f"fix: {escape(explained.fix)}", highlight=False)
        return explained.exit_code
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130
