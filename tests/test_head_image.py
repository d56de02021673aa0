"""The head image `pulumi up` builds from container/ (components/head_image.py): its content tag, its platform, the
docker-build Image the program declares, and how the plan, the update rules and the guard rules treat it."""

import importlib.metadata
import json
import re
import shutil
import subprocess

import pytest
from conftest import ROOT, build_component, component_args, resolve, run_program
from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from components.head_image import CONTENT_TAG_FILTER, CONTEXT, CONTEXT_DIR, content_tag, head_platforms
from components.head_job import NextflowHeadJob, NextflowHeadJobArgs
from facts import update_rules
from nfbatch.plan import build_plan
from policies.guard.rules import POLICIES, check_cost_tags

IMAGE = "docker-build:index:Image"
ARGS = {"NEXTFLOW_VERSION": "25.04.6"}
AMD64 = ["linux/amd64"]
# distribution/reference regexp.go: `tag = [\w][\w.-]{0,127}`; the provider parses every tag with it (image.go, Check).
DOCKER_TAG = re.compile(r"[\w][\w.-]{0,127}")


@pytest.fixture
def context(tmp_path):
    copy = tmp_path / "container"
    shutil.copytree(CONTEXT_DIR, copy)
    return copy


def test_the_tag_is_the_version_and_a_digest_of_the_build(context):
    tag = content_tag(context, ARGS, AMD64, "25.04.6")
    assert re.fullmatch(r"25\.04\.6-[0-9a-f]{16}", tag) and DOCKER_TAG.fullmatch(tag)
    # Where the checkout lives is no part of it: a laptop's and CI's checkouts tag the same build alike.
    assert tag == content_tag(CONTEXT_DIR, ARGS, AMD64, "25.04.6")


@pytest.mark.parametrize(
    "change",
    ["entrypoint bytes", "new file", "renamed file", "mode", "build argument", "platform"],
)
def test_the_tag_changes_with_anything_the_provider_rebuilds_for(context, change):
    # The provider rebuilds when a file's bytes, relative path or mode change (provider/internal/context.go,
    # hashFile) or an input does (image.go, Diff); each of them must give a new tag, or a new build would be pushed
    # over the tag of the old one.
    before = content_tag(context, ARGS, AMD64, "25.04.6")
    args, platforms = dict(ARGS), list(AMD64)
    if change == "entrypoint bytes":
        (context / "entrypoint.sh").write_text((context / "entrypoint.sh").read_text() + "\n")
    elif change == "new file":
        (context / "extra.conf").write_text("x")
    elif change == "renamed file":
        (context / "entrypoint.sh").rename(context / "start.sh")
    elif change == "mode":
        (context / "Dockerfile").chmod(0o755)  # as git records it: 100644 to 100755
    elif change == "build argument":
        args["NEXTFLOW_VERSION"] = "25.10.0"
    else:
        platforms = ["linux/arm64"]
    assert content_tag(context, args, platforms, "25.04.6") != before


def test_the_tag_does_not_follow_the_umask_at_checkout(context):
    # git records a file as 100755 or 100644 by its owner's execute bit (read-cache-ll.h, ce_permissions) and checks
    # it out as 0777 or 0666 less the umask: a clone under umask 002 or 077 holds the same commit.
    for path in context.rglob("*"):
        if path.is_file():
            path.chmod(0o755 if path.stat().st_mode & 0o100 else 0o644)
    before = content_tag(context, ARGS, AMD64, "25.04.6")
    for path in context.rglob("*"):
        if path.is_file():
            path.chmod(0o775 if path.stat().st_mode & 0o100 else 0o664)
    assert content_tag(context, ARGS, AMD64, "25.04.6") == before
    (context / "entrypoint.sh").chmod(0o700)
    assert content_tag(context, ARGS, AMD64, "25.04.6") == before


def test_files_git_does_not_track_are_no_part_of_the_tag(tmp_path):
    # In a git work tree the tag covers `git ls-files` alone: an editor's backup or .DS_Store changes nothing.
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    context = tmp_path / "container"
    shutil.copytree(CONTEXT_DIR, context)
    subprocess.run([*git, "add", "container"], check=True)
    before = content_tag(context, ARGS, AMD64, "25.04.6")
    assert before == content_tag(CONTEXT_DIR, ARGS, AMD64, "25.04.6")
    (context / ".DS_Store").write_bytes(b"junk")
    (context / "entrypoint.sh~").write_text("backup")
    assert content_tag(context, ARGS, AMD64, "25.04.6") == before
    (context / "entrypoint.sh").write_text((context / "entrypoint.sh").read_text() + "\n")  # tracked: counts
    assert content_tag(context, ARGS, AMD64, "25.04.6") != before


def test_the_repository_takes_content_tags_again_and_keeps_versions_immutable(built):
    # A content tag may be pushed again (the provider hashes full modes, provider/internal/context.go hashFile, so
    # another umask rebuilds; a rollback pushes a tag already there), which IMMUTABLE refuses with
    # ImageTagAlreadyExistsException; the definition runs the digest, so what runs never moves.
    mocks, _ = built
    repository = mocks.named("nextflow-image", "aws:ecr/repository:Repository")
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    [rule] = repository.inputs["imageTagMutabilityExclusionFilters"]
    assert rule == {"filter": CONTENT_TAG_FILTER, "filterType": "WILDCARD"}
    # ECR's WILDCARD: `*` matches any run of characters (botocore's ECR model: filter ^[0-9a-zA-Z._*-]{1,128}$).
    assert re.fullmatch(r"[0-9a-zA-Z._*-]{1,128}", CONTENT_TAG_FILTER) and CONTENT_TAG_FILTER.count("*") <= 2
    matches = re.compile(re.escape(CONTENT_TAG_FILTER).replace(r"\*", ".*")).fullmatch
    assert matches(content_tag(CONTEXT_DIR, ARGS, AMD64, "25.04.6")) and not matches("25.04.6")


def test_the_build_argument_is_one_the_dockerfile_takes():
    assert "ARG NEXTFLOW_VERSION=" in (CONTEXT_DIR / "Dockerfile").read_text()
    assert (ROOT / CONTEXT).resolve() == CONTEXT_DIR  # the relative location Pulumi resolves from the project


def test_the_image_is_built_for_where_the_head_runs():
    assert head_platforms("x86_64", "ec2") == ["linux/amd64"]
    assert head_platforms("arm64", "ec2") == ["linux/arm64"]
    # A Fargate head runs X86_64 whatever the tasks do: the head job definition sets no runtimePlatform, whose
    # cpuArchitecture defaults to X86_64 (botocore's Batch model, RuntimePlatform).
    assert head_platforms("arm64", "fargate") == ["linux/amd64"]


def test_the_head_job_definition_does_not_set_a_runtime_platform(dev_run):
    props = json.loads(dev_run.mocks.named("nextflow-definition").inputs["containerProperties"])
    assert "runtimePlatform" not in props  # else head_platforms must follow it


QUEUES = {q: f"arn:aws:batch:us-east-1:123456789012:job-queue/{q}" for q in ("head", "default", "priority")}


def head_args(**values) -> NextflowHeadJobArgs:
    wiring = {"bucket_name": "b", "bucket_arn": "arn:aws:s3:::b", "task_role_arn": "r", "queue_arns": QUEUES}
    return component_args(NextflowHeadJobArgs, **wiring, **values)


@pytest.fixture(scope="module")
def built():
    args = head_args()
    return build_component(lambda: NextflowHeadJob("nextflow", args))


@pytest.fixture(scope="module")
def dev_plan():
    return build_plan("dev", ROOT)


def test_an_unset_image_is_built_and_pushed_to_the_stack_repository(built):
    mocks, _ = built
    [image] = mocks.of_type(IMAGE)
    repository = mocks.named("nextflow-image", "aws:ecr/repository:Repository")
    url = repository.outputs["repositoryUrl"]
    tag = content_tag(CONTEXT_DIR, ARGS, AMD64, "25.04.6")
    assert image.name == "nextflow-image-build" and image.parent == mocks.named("nextflow").urn
    assert image.inputs["context"] == {"location": CONTEXT}  # relative: see components/head_image.py, CONTEXT
    assert image.inputs["tags"] == [f"{url}:{tag}"] and image.inputs["push"] is True
    assert image.inputs["buildArgs"] == ARGS and image.inputs["platforms"] == AMD64
    assert image.inputs["buildOnPreview"] is False  # a preview builds and pushes nothing, needs no Docker
    [registry] = image.inputs["registries"]
    assert registry == {"address": url, "username": "AWS", "password": "ecr-token"}
    assert "registries" in image.secret_inputs  # the ECR token never reaches the state in plain text
    # One token, for the repository's registry (docker-build's ECR example asks it the same way).
    tokens = [name for name, _ in mocks.calls if name == "aws:ecr/getAuthorizationToken:getAuthorizationToken"]
    assert len(tokens) == 1


def test_the_job_definition_runs_the_pushed_digest_and_waits_for_the_push(built):
    mocks, component = built
    [image] = mocks.of_type(IMAGE)
    definition = mocks.named("nextflow-definition")
    url = mocks.named("nextflow-image", "aws:ecr/repository:Repository").outputs["repositoryUrl"]
    # By digest, which never moves whatever is pushed again under the content tag (the Image's `digest` output).
    assert json.loads(definition.inputs["containerProperties"])["image"] == f"{url}@{image.outputs['digest']}"
    assert resolve(component.image) == f"{url}@{image.outputs['digest']}"
    assert resolve(component.image_tag) == image.inputs["tags"][0]  # the human tag, exported as headImage
    # Created only once the image is in the repository: the definition's image comes from the Image's output.
    assert image.urn in definition.property_dependencies["containerProperties"]


def test_a_set_image_skips_the_build():
    args = head_args(image="public.ecr.aws/lab/nextflow:25.04.6")
    mocks, _ = build_component(lambda: NextflowHeadJob("nf", args))
    assert mocks.of_type(IMAGE) == []
    assert not [name for name, _ in mocks.calls if "getAuthorizationToken" in name]


def test_an_arm64_stack_builds_an_arm64_head():
    run = run_program("dev", {"genomics-batch:compute": {"architecture": "arm64"}})
    [image] = run.mocks.of_type(IMAGE)
    assert image.inputs["platforms"] == ["linux/arm64"]
    tag = content_tag(CONTEXT_DIR, ARGS, ["linux/arm64"], "25.04.6")
    assert image.inputs["tags"][0].endswith(f":{tag}") and run.outputs["headImage"] == image.inputs["tags"][0]
    props = json.loads(run.mocks.named("nextflow-definition").inputs["containerProperties"])
    assert props["image"].endswith(f"@{image.outputs['digest']}")


def test_the_offline_plan_declares_the_build_and_hides_the_token(dev_plan):
    [image] = [r for r in dev_plan["resources"] if r["type"] == IMAGE]
    assert image["inputs"]["registries"] == [
        {"password": "[secret]", "address": "(known after deploy: nextflow-image.repositoryUrl)", "username": "AWS"}
    ]
    tag = content_tag(CONTEXT_DIR, ARGS, AMD64, "25.04.6")
    assert image["inputs"]["tags"] == [f"(known after deploy: nextflow-image.repositoryUrl):{tag}"]
    assert dev_plan["outputs"]["headImage"] == image["inputs"]["tags"][0]
    # What the definition runs is known only once the image is pushed.
    [definition] = [r for r in dev_plan["resources"] if r["type"] == "aws:batch/jobDefinition:JobDefinition"]
    assert "nextflow-image-build.digest" in json.dumps(definition["inputs"])


def test_an_image_change_is_an_update_never_a_replacement():
    # pulumi-docker-build's Diff answers every change with Kind Update (provider/internal/image.go, Diff).
    for keys in (["tags"], ["platforms"], ["context.location"], ["registries[0].address"], ["buildArgs.X"]):
        action = update_rules.action_for(update_rules.DOCKER_IMAGE, keys, {})
        assert action.kind == "update" and action.because == ()
        assert action.note == "pulumi up builds the head image and pushes it under the new tag; the old tag stays"
    assert update_rules.DOCKER_IMAGE == IMAGE


def test_the_rules_were_read_from_the_installed_provider():
    # Re-read provider/internal/image.go of the new release, then raise DOCKER_BUILD_RULES_READ_FROM.
    assert importlib.metadata.version("pulumi-docker-build") == update_rules.DOCKER_BUILD_RULES_READ_FROM


def test_the_guard_rules_read_an_image_without_failing(dev_run):
    # An Image's `tags` are image references, a list, not AWS tags: the cost-tag rule must skip it, not crash.
    [image] = dev_run.mocks.of_type(IMAGE)
    props = {**image.outputs, **image.inputs}
    assert isinstance(props["tags"], list)
    assert check_cost_tags(IMAGE, props) == []
    assert check_cost_tags("aws:ecr/repository:Repository", {"tags": {}}) != []  # the rule still bites AWS types
    found: list[str] = []
    for policy in POLICIES:  # every resource rule of the pack, through its real callback, as CrossGuard calls it
        if isinstance(policy, ResourceValidationPolicy):
            args = ResourceValidationArgs(IMAGE, props, image.urn, image.name, None, None)
            policy.validate(args, lambda message, urn=None: found.append(message))
    assert found == []


def test_the_mock_answers_like_the_provider(dev_run):
    # The provider's id and `digest` are the pushed image's digest, `ref` the first tag at that digest (image.go,
    # Create: `state.Digest = d; id = d`, addDigest).
    [image] = dev_run.mocks.of_type(IMAGE)
    digest = image.outputs["digest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert image.outputs["ref"] == f"{image.inputs['tags'][0]}@{digest}"
