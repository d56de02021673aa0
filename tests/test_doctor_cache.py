"""`nfbatch doctor` on the registry cache (issue 19): the rules exist and front the right registry, the instance role
may fill them, and recent jobs that could not pull their image are counted with a hint.

IAM, Batch and ECR's registry policy run in moto. moto 5.2.5 has no DescribePullThroughCacheRules, so that one
operation is answered by botocore's Stubber on nfbatch's own ECR client: the request and the canned answer are both
validated against botocore's ECR model, and every other call of that client still reaches moto.
"""

import json
import time

import pytest
from botocore.stub import Stubber
from conftest import ACCOUNT, REGION
from test_nfbatch import as_json, nfbatch, submit_tasks

from facts.registries import cache_uri
from nfbatch import maintenance
from nfbatch.aws import Aws
from nfbatch.policy_eval import ALLOW, DENY, IMPLICIT_DENY, decision, document, for_principal
from nfbatch.pull_errors import is_rate_limited, pull_hint, pull_reason
from nfbatch.stack import StackOutputs
from policies.iam import cache_pull_policy, cache_repository_arns

CACHES = {
    "quay.io": cache_uri(ACCOUNT, REGION, "dev", "quay"),
    "public.ecr.aws": cache_uri(ACCOUNT, REGION, "dev", "ecr-public"),
}
RULE_OP = "DescribePullThroughCacheRules"
RULE_METHOD = "describe_pull_through_cache_rules"  # the Stubber queues by the client's method name
# What ECS writes when Docker Hub refuses a pull (https://repost.aws/knowledge-center/ecs-pull-container-error-rate-limit).
RATE_LIMITED = (
    "CannotPullContainerError: inspect image has been retried 5 time(s): httpReaderSeeker: failed open: unexpected "
    "status code Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit."
)


class OperationStubber(Stubber):
    """botocore's Stubber for one operation of a client: its queue answers that operation (checked against the
    service model both ways), and the client's other operations go where they always go (here: moto)."""

    def __init__(self, client, operation: str):
        super().__init__(client)
        service = client.meta.service_model.service_id.hyphenize()
        self._events = (f"before-parameter-build.{service}.{operation}", f"before-call.{service}.{operation}")

    def activate(self):
        self.client.meta.events.register_first(
            self._events[0], self._assert_expected_params, unique_id=self._expected_params_event_id
        )
        self.client.meta.events.register(self._events[1], self._get_response_handler, unique_id=self._event_id)

    def deactivate(self):
        self.client.meta.events.unregister(
            self._events[0], self._assert_expected_params, unique_id=self._expected_params_event_id
        )
        self.client.meta.events.unregister(self._events[1], self._get_response_handler, unique_id=self._event_id)


def rule(prefix: str, url: str, upstream: str) -> dict:
    """A PullThroughCacheRule as DescribePullThroughCacheRules answers it (botocore's ECR model)."""
    return {
        "ecrRepositoryPrefix": prefix,
        "upstreamRegistryUrl": url,
        "registryId": ACCOUNT,
        "upstreamRegistry": upstream,
        "createdAt": 1764590000,
    }


def answer_rules(stubber: Stubber, answers: dict[str, dict | None]) -> None:
    """Queue one answer per prefix, in the order doctor asks (the export's hosts sorted): a rule or not-found."""
    for prefix, found in answers.items():
        expected = {"registryId": ACCOUNT, "ecrRepositoryPrefixes": [prefix]}
        if found is None:
            # The provider reads a missing rule as PullThroughCacheRuleNotFoundException (terraform-provider-aws
            # internal/service/ecr/pull_through_cache_rule.go, findPullThroughCacheRules).
            stubber.add_client_error(RULE_METHOD, "PullThroughCacheRuleNotFoundException", expected_params=expected)
        else:
            stubber.add_response(RULE_METHOD, {"pullThroughCacheRules": [found]}, expected)


HEALTHY = {
    "dev/ecr-public": rule("dev/ecr-public", "public.ecr.aws", "ecr-public"),
    "dev/quay": rule("dev/quay", "quay.io", "quay"),
}


@pytest.fixture
def cached_stack(fake_stack):
    """A fresh stack whose outputs carry registryCaches and whose instance role holds the stack's grant."""
    fake_stack.outputs["registryCaches"] = CACHES
    fake_stack.outputs_file.write_text(json.dumps(fake_stack.outputs))
    return fake_stack


def grant(stack, document_: dict, name: str = "registry-cache") -> None:
    role = stack.outputs["instanceRoleArn"].rsplit("/", 1)[-1]
    stack.endpoint.client("iam").put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document_))


def stack_grant() -> dict:
    """The instance role's grant as the program writes it (policies/iam.py) for dev's two prefixes."""
    return cache_pull_policy(cache_repository_arns("aws", REGION, ACCOUNT, ["dev/quay", "dev/ecr-public"]))


def run_doctor(stack, answers: dict[str, dict | None] | None, name: str = "dev") -> dict[str, dict]:
    aws = Aws(REGION)
    with OperationStubber(aws.client("ecr"), RULE_OP) as stubber:
        if answers is not None:
            answer_rules(stubber, answers)
        checks = maintenance.doctor(aws, StackOutputs(stack.outputs), name)
        stubber.assert_no_pending_responses()
    return {c["check"]: c for c in checks}


# --- the pure parts ---------------------------------------------------------------------------------------------


def test_the_export_names_one_rule_per_prefix_with_its_upstream_url():
    rules = maintenance.cache_rules({**CACHES, "docker.io": cache_uri(ACCOUNT, REGION, "dev", "docker-hub")})
    by_prefix = {r.prefix: r for r in rules}
    assert by_prefix["dev/quay"].url == "quay.io" and by_prefix["dev/quay"].account == ACCOUNT
    # botocore's ECR model: Docker Hub's upstreamRegistryUrl is registry-1.docker.io, whatever name images carry.
    assert by_prefix["dev/docker-hub"].url == "registry-1.docker.io"
    assert {r.region for r in rules} == {REGION}


def test_policy_decisions_follow_iam_evaluation_logic():
    # IAM policy evaluation logic: an explicit deny overrides any allow; no allow is an implicit deny.
    arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/dev/quay/x"
    allow = stack_grant()
    deny = {"Statement": [{"Effect": "Deny", "Action": "ecr:Create*", "Resource": "*"}]}
    assert decision([allow], "ecr:BatchImportUpstreamImage", arn) == ALLOW
    assert decision([allow], "ECR:batchimportupstreamimage", arn) == ALLOW  # actions match case-insensitively
    assert decision([allow], "ecr:BatchImportUpstreamImage", arn.replace("dev/quay", "prod/quay")) == IMPLICIT_DENY
    assert decision([allow, deny], "ecr:CreateRepository", arn) == DENY
    not_action = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    assert decision([not_action], "ecr:CreateRepository", arn) == ALLOW
    conditional = {"Statement": [{**allow["Statement"][0], "Condition": {"StringEquals": {"aws:x": "y"}}}]}
    assert decision([conditional], "ecr:CreateRepository", arn) == IMPLICIT_DENY  # not decided without context
    # The raw API gives documents URL-encoded (botocore's IAM model, policyDocumentType).
    assert document("%7B%22Statement%22%3A%20%5B%5D%7D") == {"Statement": []}


def test_registry_policy_grants_only_in_statements_naming_the_role():
    role = f"arn:aws:iam::{ACCOUNT}:role/instance"
    registry = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": role}, "Action": "ecr:CreateRepository", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/other"}, "Action": "ecr:*", "Resource": "*"},
        ]
    }
    assert len(for_principal(registry, role)["Statement"]) == 1
    repo = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/dev/quay/p"
    gaps = maintenance.cache_grant_gaps([], None, registry, role, [repo])
    assert gaps == [
        f"ecr:{a} on {repo}: no policy of the role allows it" for a in ("BatchImportUpstreamImage", "TagResource")
    ]


def test_pull_reasons_are_found_in_every_place_batch_puts_them():
    # botocore's Batch model, JobDetail: statusReason, container.reason, attempts[].container.reason.
    assert pull_reason({"statusReason": RATE_LIMITED}) == RATE_LIMITED
    assert pull_reason({"container": {"reason": "CannotPullContainerError: pull access denied"}})
    assert pull_reason({"attempts": [{"container": {"reason": RATE_LIMITED}}], "statusReason": "Essential exit"})
    assert pull_reason({"statusReason": "Essential container in task exited"}) is None
    assert is_rate_limited(RATE_LIMITED) and is_rate_limited("CannotPullContainerError: ... 429 Too Many Requests")
    assert not is_rate_limited("CannotPullContainerError: pull access denied for nosuch/image")


def test_the_hint_names_the_cache_for_the_images_registry():
    hint = pull_hint(RATE_LIMITED, CACHES, "quay.io/biocontainers/fastqc:0.12.1--hdfd78af_0")
    assert f"as {CACHES['quay.io']}/<repository>" in hint and "docs/registry-cache.md" in hint
    hub = pull_hint(RATE_LIMITED, CACHES, "ubuntu:22.04")  # Docker Hub (docker.io): not cached by default
    assert "docker.io has no cache rule" in hub and "Adding Docker Hub" in hub
    assert "genomics-batch:registryCache" in pull_hint(RATE_LIMITED, {}, "ubuntu:22.04")
    assert "rate limit" not in pull_hint("CannotPullContainerError: pull access denied", CACHES, "nosuch/x")


# --- against moto (and the Stubber for the one call moto lacks) ---------------------------------------------------


def test_a_cache_that_is_off_says_off_and_asks_ecr_nothing(fake_stack, hooks):
    code, out = nfbatch(fake_stack, "doctor", "--json")
    checks = {c["check"]: c for c in as_json(out)}
    assert code == 0 and RULE_OP not in hooks.calls and "ListRolePolicies" not in hooks.calls
    for name in (maintenance.CACHE_RULES_CHECK, maintenance.CACHE_GRANT_CHECK):
        assert checks[name]["ok"] is True and checks[name]["detail"].startswith("off")
    assert checks[maintenance.PULL_FAILURES_CHECK]["ok"] is True


def test_a_healthy_cache_passes(cached_stack):
    grant(cached_stack, stack_grant())
    checks = run_doctor(cached_stack, HEALTHY)
    assert all(c["ok"] for c in checks.values()), [c for c in checks.values() if not c["ok"]]
    # Prefixes are unique per registry, not per project: the check says which base this stack holds.
    assert checks["cache rule dev/quay"]["detail"] == (
        "quay.io for quay.io; this stack owns dev/ here: another stack in this account and region needs its own "
        "registryCache.repositoryPrefix"
    )
    grant_ = checks[maintenance.CACHE_GRANT_CHECK]["detail"]
    assert (
        "may ecr:BatchImportUpstreamImage, ecr:CreateRepository and ecr:TagResource on dev/ecr-public/*, dev/quay/*"
        in grant_
    )


def test_a_grant_without_tag_resource_is_refused(cached_stack):
    # Service Authorization Reference, ECR operations table: BatchGetImage maps to ecr:BatchImportUpstreamImage,
    # ecr:CreateRepository and ecr:TagResource (list_amazonelasticcontainerregistry.html); the stack grants all three.
    assert set(maintenance.CACHE_ACTIONS) == set(stack_grant()["Statement"][0]["Action"])
    untagged = stack_grant()
    untagged["Statement"][0]["Action"] = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    grant(cached_stack, untagged)
    check = run_doctor(cached_stack, HEALTHY)[maintenance.CACHE_GRANT_CHECK]
    repo = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/dev/quay/*"
    assert check["ok"] is False and f"ecr:TagResource on {repo}: no policy of the role allows it" in check["detail"]
    assert "ecr:CreateRepository on" not in check["detail"]


def test_a_missing_rule_fails_and_says_refresh_then_up_for_the_stack(cached_stack):
    grant(cached_stack, stack_grant())
    checks = run_doctor(cached_stack, {**HEALTHY, "dev/quay": None}, name="lab-dev")
    failed = [c for c in checks.values() if not c["ok"]]
    assert [c["check"] for c in failed] == ["cache rule dev/quay"]
    assert failed[0]["detail"].startswith("missing: images of quay.io routed to dev/quay/ fail")
    assert failed[0]["fix"].startswith("run `pulumi up --refresh --stack lab-dev`")


def test_a_rule_fronting_another_registry_fails(cached_stack):
    grant(cached_stack, stack_grant())
    wrong = rule("dev/quay", "registry.k8s.io", "k8s")
    check = run_doctor(cached_stack, {**HEALTHY, "dev/quay": wrong})["cache rule dev/quay"]
    assert check["ok"] is False and check["detail"].startswith("fronts registry.k8s.io, not quay.io")
    assert "replaces the rule with one for quay.io" in check["fix"]


def test_an_instance_role_without_the_grant_is_refused(cached_stack):
    check = run_doctor(cached_stack, HEALTHY, name="dev")[maintenance.CACHE_GRANT_CHECK]
    assert check["ok"] is False
    repo = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/dev/quay/*"
    assert f"ecr:CreateRepository on {repo}: no policy of the role allows it" in check["detail"]
    assert check["fix"].startswith("run `pulumi up --stack dev`")


def test_a_grant_for_another_prefix_or_an_explicit_deny_is_refused(cached_stack):
    # A prod-scoped grant does not cover dev's prefixes; a managed policy's explicit deny beats the stack's allow.
    grant(cached_stack, cache_pull_policy(cache_repository_arns("aws", REGION, ACCOUNT, ["prod/quay"])))
    check = run_doctor(cached_stack, HEALTHY)[maintenance.CACHE_GRANT_CHECK]
    assert check["ok"] is False and "dev/ecr-public/*: no policy" in check["detail"]
    grant(cached_stack, stack_grant())
    iam = cached_stack.endpoint.client("iam")
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "ecr:CreateRepository", "Resource": "*"}],
    }
    arn = iam.create_policy(PolicyName=f"no-create-{time.time_ns()}", PolicyDocument=json.dumps(deny))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=cached_stack.outputs["instanceRoleArn"].rsplit("/", 1)[-1], PolicyArn=arn)
    check = run_doctor(cached_stack, HEALTHY)[maintenance.CACHE_GRANT_CHECK]
    assert check["ok"] is False and f"denied by {arn.rsplit('/', 1)[-1]}" in check["detail"]


def test_the_registry_permissions_policy_can_grant_the_import(cached_stack):
    # ECR User Guide, pull-through-cache-iam: ecr:CreateRepository "can be granted by either an identity-based IAM
    # policy or the private registry permissions policy". Here the role's own policy grants only the import, the
    # registry policy the creation (moto 5.2.5's PutRegistryPolicy accepts only CreateRepository and ReplicateImage,
    # though AWS's registry-permissions page lists BatchImportUpstreamImage too). TagResource stays with the role: the
    # registry policy enforces only ReplicateImage, BatchImportUpstreamImage and CreateRepository (same page).
    only_import = stack_grant()
    only_import["Statement"][0]["Action"] = ["ecr:BatchImportUpstreamImage", "ecr:TagResource"]
    grant(cached_stack, only_import)
    assert run_doctor(cached_stack, HEALTHY)[maintenance.CACHE_GRANT_CHECK]["ok"] is False
    role = cached_stack.outputs["instanceRoleArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PullThroughCache",
                "Effect": "Allow",
                "Principal": {"AWS": role},
                "Action": ["ecr:CreateRepository"],
                "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/dev/*",
            }
        ],
    }
    ecr = cached_stack.endpoint.client("ecr")
    ecr.put_registry_policy(policyText=json.dumps(policy))
    try:
        check = run_doctor(cached_stack, HEALTHY)[maintenance.CACHE_GRANT_CHECK]
    finally:
        ecr.delete_registry_policy()  # the registry is the account's: other tests share it
    assert check["ok"] is True


def fail_with_reason(stack, run: str, reason: str) -> str:
    """A task job that FAILED with `reason`: moto fails it at submit (MOTO_SIMPLE_BATCH_FAIL_AFTER=0), and its
    TerminateJob sets the statusReason DescribeJobs then reports (moto batch Job.terminate)."""
    [job] = submit_tasks(stack, run, 1)
    stack.endpoint.client("batch").terminate_job(jobId=job, reason=reason)
    return job


def test_rate_limited_pulls_are_counted_and_the_hint_names_the_cache(cached_stack, monkeypatch):
    grant(cached_stack, stack_grant())
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    fail_with_reason(cached_stack, "pulls", RATE_LIMITED)
    fail_with_reason(cached_stack, "pulls", "Essential container in task exited")
    monkeypatch.delenv("MOTO_SIMPLE_BATCH_FAIL_AFTER")
    check = run_doctor(cached_stack, HEALTHY)[maintenance.PULL_FAILURES_CHECK]
    assert check["ok"] is False
    assert check["detail"].startswith("1 job(s) since ") and "1 for a registry's rate limit" in check["detail"]
    assert "toomanyrequests" in check["detail"]
    # moto's jobs run the stack's head image (an ECR one); its registry is no upstream, so the hint lists the caches.
    assert f"quay.io -> {CACHES['quay.io']}" in check["fix"] and "docs/registry-cache.md" in check["fix"]


def test_the_pull_scan_is_bounded(cached_stack, monkeypatch):
    outputs = StackOutputs(cached_stack.outputs)
    submit_tasks(cached_stack, "many", 8)
    assert maintenance.recent_failed_jobs(Aws(REGION), outputs, 0)[1] == 8
    monkeypatch.setattr(maintenance, "PULL_SCAN_CAP", 3)  # ListJobs' paginator stops at MaxItems per queue
    assert maintenance.recent_failed_jobs(Aws(REGION), outputs, 0)[1] == 3
    # The window: a failed job created before it is not counted (moto ignores AFTER_CREATED_AT, "Return True for
    # unsupported filters" in moto/batch/models.py list_jobs; nfbatch checks createdAt as well).
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    fail_with_reason(cached_stack, "old", RATE_LIMITED)
    monkeypatch.delenv("MOTO_SIMPLE_BATCH_FAIL_AFTER")
    monkeypatch.setattr(maintenance, "PULL_SCAN_CAP", 1000)
    assert len(maintenance.recent_failed_jobs(Aws(REGION), outputs, 0)[0]) == 1
    assert maintenance.recent_failed_jobs(Aws(REGION), outputs, int(time.time() * 1000) + 60_000)[0] == []


def test_logs_of_failed_tasks_carry_the_pull_hint(cached_stack, monkeypatch):
    assert nfbatch(cached_stack, "run", "hello", "--name", "pulled")[0] == 0
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    fail_with_reason(cached_stack, "pulled", RATE_LIMITED)
    fail_with_reason(cached_stack, "pulled", "Essential container in task exited")
    monkeypatch.delenv("MOTO_SIMPLE_BATCH_FAIL_AFTER")
    code, out = nfbatch(cached_stack, "logs", "pulled", "--tasks", "failed", "--json")
    reports = {r["statusReason"]: r for r in as_json(out)}
    assert code == 0 and reports["Essential container in task exited"]["hint"] is None
    assert "rate limit" in reports[RATE_LIMITED]["hint"] and "docs/registry-cache.md" in reports[RATE_LIMITED]["hint"]
    code, table = nfbatch(cached_stack, "logs", "pulled", "--tasks", "failed")
    assert "hint: the registry refused the pull for its rate limit" in table


def test_the_docs_recipe_registers_a_job_definition_botocore_accepts():
    # docs/registry-cache.md, "Checking it works": the containerProperties of its register-job-definition, checked
    # against botocore's Batch model (RegisterJobDefinition), with $CACHE as the export gives it.
    from botocore.session import get_session
    from botocore.validate import validate_parameters
    from conftest import ROOT

    text = (ROOT / "docs" / "registry-cache.md").read_text()
    raw = text.split('--container-properties \\\n  "', 1)[1].split('}")', 1)[0] + "}"
    properties = json.loads(raw.replace('\\"', '"').replace("$CACHE", CACHES["public.ecr.aws"]))
    model = get_session().get_service_model("batch").operation_model("RegisterJobDefinition").input_shape
    validate_parameters(
        {"jobDefinitionName": "cache-check", "type": "container", "containerProperties": properties}, model
    )
    assert properties["image"] == f"{CACHES['public.ecr.aws']}/docker/library/busybox:latest"
