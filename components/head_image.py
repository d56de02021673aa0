"""The Nextflow head image, built from container/ and pushed to the stack's ECR repository by `pulumi up`.

pulumi-docker-build gives an image no content tag of its own, so the tag is a digest of what goes into the build:
the job definition (which names the tag) changes only when the image does.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

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


def head_platforms(architecture: str, head_platform: str) -> list[str]:
    """Where the head runs, so the one platform to build. An EC2 head runs on the on-demand compute environment, whose
    instances are of compute.architecture; a Fargate head runs on X86_64, the default of a job definition's
    runtimePlatform (botocore's Batch model, RuntimePlatform.cpuArchitecture: "The default value is X86_64"), which
    the head job definition does not set. Always explicit: buildx otherwise builds for the machine it runs on, and an
    Apple-silicon laptop would push an arm64 head to an x86_64 stack."""
    if head_platform == "ec2" and architecture == "arm64":
        return [docker_build.Platform.LINUX_ARM64.value]
    return [docker_build.Platform.LINUX_AMD64.value]


def content_tag(context: Path, build_args: Mapping[str, str], platforms: Sequence[str], version: str) -> str:
    """`<version>-<digest>`: sha256 over every file under `context` (sorted relative names, permission bits and
    bytes), the build arguments and the platforms. The provider rebuilds when its own context hash (each file's
    bytes, relative path and mode, provider/internal/context.go hashFile) or any input changes; each of those changes
    this tag too, so a rebuild never pushes onto a tag that exists, which the IMMUTABLE repository would refuse."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        data = path.read_bytes()
        name = path.relative_to(context).as_posix().encode()
        mode = stat.S_IMODE(path.stat().st_mode)
        digest.update(b"%d:%s:%o:%d:" % (len(name), name, mode, len(data)) + data)
    recipe = {"buildArgs": dict(sorted(build_args.items())), "platforms": list(platforms)}
    digest.update(json.dumps(recipe, sort_keys=True).encode())
    return f"{version}-{digest.hexdigest()[:DIGEST_DIGITS]}"


def build_head_image(
    name: str,
    repository: aws.ecr.Repository,
    *,
    nextflow_version: str,
    platforms: list[str],
    parent: pulumi.Resource,
) -> pulumi.Output[str]:
    """Declare the head image's build and push; return its tag reference (`<repository url>:<content tag>`), read from
    the resource's own `tags` output so whatever uses it waits for the push."""
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
    # The tags output resolves once the image is pushed: whatever uses the reference waits for the push.
    return pulumi.Output.all(image.tags, reference).apply(lambda both: both[1])
