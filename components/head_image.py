"""The Nextflow head image, built from container/ and pushed to the stack's ECR repository by `pulumi up`.

pulumi-docker-build gives an image no content tag of its own, so the tag is a digest of what goes into the build, the
same for a commit on every machine; the job definition names the pushed image by its digest, which never moves.
"""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

# The build context, relative to the project: Pulumi runs the program and its provider plugins from the project
# directory (Pulumi.yaml's), and an absolute path would differ between a laptop's checkout and CI's, which the
# provider reads as a changed input (provider/internal/image.go, Diff: `olds.Context.Location !=
# news.Context.Location`) and answers with a rebuild.
CONTEXT = "container"
CONTEXT_DIR = Path(__file__).resolve().parent.parent / CONTEXT
# How many hex digits of the digest the tag keeps: 64 bits, no collision among a repository's few hundred images.
DIGEST_DIGITS = 16
# The ECR tag filter every content tag (`<version>-<digest>`) matches and a bare version (`25.04.6`) does not: the
# repository's exclusion from immutability ("Must contain only letters, numbers, and special characters (._*-) ...
# a maximum of 2 wildcards", pulumi-aws ecr RepositoryImageTagMutabilityExclusionFilter; botocore's ECR model,
# ImageTagMutabilityExclusionFilterValue `^[0-9a-zA-Z._*-]{1,128}$`, filterType WILDCARD).
CONTENT_TAG_FILTER = "*-*"


def head_platforms(architecture: str, head_platform: str) -> list[str]:
    """Where the head runs, so the one platform to build. An EC2 head runs on the on-demand compute environment, whose
    instances are of compute.architecture; a Fargate head runs on X86_64, the default of a job definition's
    runtimePlatform (botocore's Batch model, RuntimePlatform.cpuArchitecture: "The default value is X86_64"), which
    the head job definition does not set. Always explicit: buildx otherwise builds for the machine it runs on, and an
    Apple-silicon laptop would push an arm64 head to an x86_64 stack."""
    if head_platform == "ec2" and architecture == "arm64":
        return [docker_build.Platform.LINUX_ARM64.value]
    return [docker_build.Platform.LINUX_AMD64.value]


def git_mode(path: Path) -> int:
    """The file's mode as git records it, whatever the umask at checkout made of it: 0o755 when the owner may execute
    it, else 0o644 (git's read-cache-ll.h: `ce_permissions(mode) (((mode) & 0100) ? 0755 : 0644)`)."""
    return 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644


def context_files(context: Path) -> list[Path]:
    """The files the tag covers: those git tracks under `context` in a git work tree (an editor's backup or .DS_Store
    changes nothing), else every file (`plan --base` unpacks a commit's tree, which holds only tracked files)."""
    listed = subprocess.run(
        ["git", "-C", str(context), "ls-files", "-z", "--cached", "--", "."],
        capture_output=True,
        check=False,
    )
    names = [n for n in listed.stdout.decode().split("\0") if n] if listed.returncode == 0 else []
    if not names:  # not a git work tree, no git, or a copy git does not track: nothing to tell tracked from untracked
        return sorted(p for p in context.rglob("*") if p.is_file())
    return sorted(p for p in (context / n for n in names) if p.is_file())  # a tracked file deleted is gone


def content_tag(context: Path, build_args: Mapping[str, str], platforms: Sequence[str], version: str) -> str:
    """`<version>-<digest>`: sha256 over the context's files (context_files: sorted relative names, modes as git
    records them, bytes), the build arguments and the platforms, so the same commit gives the same tag on every
    machine. The provider's own context hash takes each file's full mode (provider/internal/context.go hashFile), so
    a checkout made under another umask may rebuild and push again under the same tag: the repository lets content
    tags be pushed again (components/head_job.py, CONTENT_TAG_FILTER), and the job definition names the digest."""
    digest = hashlib.sha256()
    for path in context_files(context):
        data = path.read_bytes()
        name = path.relative_to(context).as_posix().encode()
        digest.update(b"%d:%s:%o:%d:" % (len(name), name, git_mode(path), len(data)) + data)
    recipe = {"buildArgs": dict(sorted(build_args.items())), "platforms": list(platforms)}
    digest.update(json.dumps(recipe, sort_keys=True).encode())
    return f"{version}-{digest.hexdigest()[:DIGEST_DIGITS]}"


class HeadImage(NamedTuple):
    """The pushed head image: `tag` (`<repository url>:<content tag>`) to read, `digest` (`<repository url>@<digest>`)
    to run: a digest always names the same image, whatever is pushed again under the tag."""

    tag: pulumi.Output[str]
    digest: pulumi.Output[str]


def build_head_image(
    name: str,
    repository: aws.ecr.Repository,
    *,
    nextflow_version: str,
    platforms: list[str],
    parent: pulumi.Resource,
) -> HeadImage:
    """Declare the head image's build and push; return its references, read from the resource's outputs so whatever
    uses them waits for the push."""
    build_args = {"NEXTFLOW_VERSION": nextflow_version}  # container/Dockerfile: ARG NEXTFLOW_VERSION
    tag = content_tag(CONTEXT_DIR, build_args, platforms, nextflow_version)
    reference = repository.repository_url.apply(lambda url: f"{url}:{tag}")
    # docker-build's ECR example: a registry of the repository URL (the provider keeps its host name,
    # provider/internal/cli.go `credentials.ConvertToHostname(reg.Address)`) with the ECR token's user and password.
    token = aws.ecr.get_authorization_token_output(
        registry_id=repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=parent)
    )
    image = docker_build.Image(
        name,
        context=docker_build.BuildContextArgs(location=CONTEXT),
        build_args=build_args,
        platforms=[docker_build.Platform(p) for p in platforms],
        tags=[reference],
        push=True,
        registries=[
            docker_build.RegistryArgs(
                address=repository.repository_url,
                username=token.user_name,
                password=pulumi.Output.secret(token.password),
            )
        ],
        # A preview builds nothing and pushes nothing: a pull request's previews need no Docker daemon and take no
        # minutes per stack building an image they would throw away ("Images built during previews are never
        # exported to registries", the provider's buildOnPreview; image.go Create returns before the build on
        # `req.DryRun && !input.shouldBuildOnPreview()`). The Dockerfile's syntax is still checked ("always
        # validated ... regardless of this setting"), and tests/test_container.py lints it.
        build_on_preview=False,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    # The tags output resolves once the image is pushed: whatever uses the reference waits for the push. The digest
    # is the pushed image's (the Image's `digest` output: "Registry images can be referenced precisely as
    # `<tag>@<digest>`", pulumi_docker_build/image.py); ECR's URI for it is `<repository url>@<digest>`.
    by_digest = pulumi.Output.all(repository.repository_url, image.digest).apply(lambda a: f"{a[0]}@{a[1]}")
    return HeadImage(tag=pulumi.Output.all(image.tags, reference).apply(lambda both: both[1]), digest=by_digest)
