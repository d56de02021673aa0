"""Where every kind of task image is pulled from under the head's generated config and Nextflow 25.04.6's rules, and
that each still resolves to a registry that holds it: the pipeline's own upstream, directly or through its cache."""

import json
import re

import pytest
from conftest import ACCOUNT, REGION, run_program

from components.head_job import registry_caches_env, render_nextflow_config, unqualified_registry
from components.registry_cache import cache_map, cache_rules
from facts.registries import (
    DEFAULT_UPSTREAMS,
    REPOSITORY_PREFIX,
    REPOSITORY_PREFIX_LENGTH,
    UPSTREAM_BY_KEY,
    UPSTREAMS,
    registry_host,
    split_registry,
)
from nfbatch.cli import COMMENTED_DOCKER_SCOPE, asked_docker_scope, main
from nfbatch.pull_errors import pull_hint

BASE = "dev"  # registryCache.repositoryPrefix's default: the stack name lowercased
UPSTREAM_SETTINGS = {key: (None, None) for key in DEFAULT_UPSTREAMS}
RULES = cache_rules(BASE, UPSTREAM_SETTINGS)
CACHES = cache_map(ACCOUNT, REGION, BASE, UPSTREAM_SETTINGS)
STACK_REGISTRY = registry_host(ACCOUNT, REGION)
# The head image: the stack's own repository, by digest (components/head_job.py NextflowHeadJob.image).
HEAD_IMAGE = f"{STACK_REGISTRY}/nextflow-image-4f2a1b3@sha256:{'ab' * 32}"
# nf-core's template config since tools 2.8, applied before ours: `docker.registry = 'quay.io'` (nf-core/tools
# CHANGELOG v2.8, #2133; nf_core/pipeline-template/nextflow.config); older releases and most other pipelines set none.
NF_CORE_OWN_REGISTRY = "quay.io"


def is_absolute_docker_name(image: str) -> bool:
    # nextflow-io/nextflow v25.04.6 modules/nextflow/src/main/groovy/nextflow/container/ContainerHandler.groovy
    # isAbsoluteDockerName: `def p = image.indexOf('/'); if( p==-1 ) return false; image = image.substring(0,p);
    # image.contains('.') || image.contains(':')`
    p = image.find("/")
    return p != -1 and ("." in image[:p] or ":" in image[:p])


def nextflow_25_04_name(image: str, registry: str | None) -> str:
    # The same file, normalizeDockerImageName: no registry -> as is; absolute -> as is; else registry + '/' + name.
    # awsbatch asks for the docker engine's config (nf-amazon AwsBatchExecutor.containerConfigEngine: 'docker').
    if not registry or is_absolute_docker_name(image):
        return image
    return (registry if registry.endswith("/") else registry + "/") + image


def nextflow_25_10_name(image: str, registry: str | None, override: bool) -> str:
    # v25.10.0 normalizeDockerImageName: an absolute name gets `config.getRegistryOverride() ?
    # overrideRegistryName(imageName, reg) : imageName`; overrideRegistryName swaps the first component (a host)
    # for the target, so every qualified name goes to the one docker.registry.
    if registry and override and is_absolute_docker_name(image):
        return (registry if registry.endswith("/") else registry + "/") + image.split("/", 1)[1]
    return nextflow_25_04_name(image, registry)


def generated_registry(config: str) -> str | None:
    """docker.registry in the head's config; a `-c` file is read after the pipeline's own nextflow.config, so it
    wins (nextflow v25.04.6 modules/nextflow/src/main/groovy/nextflow/config/ConfigBuilder.groovy
    validateConfigFiles: the base dir's nextflow.config first, then `customConfigs`, options.userConfig among them)."""
    found = re.findall(r"\n    registry = '([^']+)'\n", config)
    assert len(found) <= 1
    return found[0] if found else None


def head_config(pipeline: str | None, caches: dict, asked: str | None = None, own: str | None = None) -> str:
    return render_nextflow_config(
        work_dir="s3://work/work",
        region=REGION,
        default_queue="default",
        priority_queue="priority",
        task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/task",
        max_spot_attempts=3,
        run_name="run-1",
        pipeline=pipeline,
        registry_caches=caches,
        asked_registry=asked,
        own_registry=own,
    )


def upstream_key(host: str) -> str:
    """An upstream by any name it goes by (Docker Hub: docker.io and registry-1.docker.io), else the host."""
    return next((u.key for u in UPSTREAMS if host in u.hosts or host == u.url), host)


def holder(pulled: str) -> tuple[str, str]:
    """Where Docker's pull of `pulled` is served from: (upstream, repository). Through a cache rule when the name is
    in the stack's registry under a rule's prefix ("All repositories using this prefix become pull through
    cache-enabled repositories for the upstream registry defined in the rule", ECR User Guide,
    pull-through-cache-private-wildcards.html); otherwise the registry it names (distribution's splitDockerDomain)."""
    host, rest = split_registry(pulled)
    if host == STACK_REGISTRY:
        for rule in RULES:
            if rest.startswith(rule.ecr_repository_prefix + "/"):
                return upstream_key(rule.upstream_registry_url), rest[len(rule.ecr_repository_prefix) + 1 :]
    return upstream_key(host), rest


# (what, pipeline, the pipeline's own docker.registry, image as the pipeline names it, pulled through)
IMAGES = [
    ("nf-core biocontainer", "nf-core/rnaseq", NF_CORE_OWN_REGISTRY, "biocontainers/fastqc:0.12.1--hdfd78af_0", "quay"),
    (
        "nf-core by URL",
        "https://github.com/nf-core/sarek",
        NF_CORE_OWN_REGISTRY,
        "biocontainers/gatk4:4.5.0.0--py36hdfd78af_0",
        "quay",
    ),
    # Before tools 2.8, nf-core modules named Docker Hub images without a registry (nf-core/tools 2.7
    # nf_core/download.py: `container "nfcore/cellranger:6.0.2"`) and the template set no docker.registry.
    ("pre-2.8 nf-core release", "nf-core/scrnaseq", None, "nfcore/cellranger:6.0.2", None),
    # The pipeline's own config decides, not its name: a community pipeline on the nf-core template.
    (
        "nf-core template, not nf-core",
        "my-lab/rnaseq",
        NF_CORE_OWN_REGISTRY,
        "biocontainers/fastqc:0.12.1--hdfd78af_0",
        "quay",
    ),
    ("Docker Hub official", "my-lab/variants", None, "ubuntu:22.04", None),
    ("Docker Hub user", "my-lab/variants", None, "broadinstitute/gatk:4.5.0.0", None),
    ("quay.io", "nf-core/rnaseq", NF_CORE_OWN_REGISTRY, "quay.io/biocontainers/samtools:1.21--h50ea8bc_0", None),
    ("public.ecr.aws", "my-lab/variants", None, "public.ecr.aws/lts/ubuntu:22.04", None),
    (
        "Wave community",
        "nf-core/rnaseq",
        NF_CORE_OWN_REGISTRY,
        "community.wave.seqera.io/library/fastqc:0.12.1--af7a5314d5015c29",
        None,
    ),
    ("ghcr.io", "my-lab/variants", None, "ghcr.io/nextflow-io/demo:v1", None),
]


@pytest.mark.parametrize(("what", "pipeline", "own", "image", "through"), IMAGES, ids=[i[0] for i in IMAGES])
def test_every_task_image_resolves_to_the_upstream_that_holds_it(what, pipeline, own, image, through):
    config = head_config(pipeline, CACHES, own=own)  # the head read `own` with `nextflow config` (entrypoint.sh)
    registry = generated_registry(config) or own
    pulled = nextflow_25_04_name(image, registry)  # the name nf-amazon registers the job definition with
    today = holder(nextflow_25_04_name(image, own))  # the pipeline's own config, without the stack's
    # The same upstream repository as without the cache: nothing that pulls today breaks.
    assert holder(pulled) == today
    if through:
        assert pulled == f"{CACHES[UPSTREAM_BY_KEY[through].url]}/{image}"
        assert split_registry(pulled)[0] == STACK_REGISTRY
    else:
        assert pulled == image  # qualified names, and every name of a pipeline without docker.registry, as named


def test_the_head_image_comes_from_the_stacks_own_repository():
    # Batch pulls the job definition's image itself; no Nextflow rule touches it, and no cache prefix matches it.
    host, repository = split_registry(HEAD_IMAGE)
    assert holder(HEAD_IMAGE) == (STACK_REGISTRY, repository) and host == STACK_REGISTRY


def test_cache_uris_are_the_registry_and_a_declared_rules_prefix():
    prefixes = {rule.key: rule.ecr_repository_prefix for rule in RULES}
    for host, uri in CACHES.items():
        key = upstream_key(host)
        assert uri == f"{STACK_REGISTRY}/{prefixes[key]}"
        low, high = REPOSITORY_PREFIX_LENGTH
        assert REPOSITORY_PREFIX.fullmatch(prefixes[key]) and low <= len(prefixes[key]) <= high


def test_the_export_shows_the_quay_block_commented_out_with_its_instruction():
    # Laptops use the export with any pipeline: an active quay.io registry would send ubuntu:22.04 to quay.io.
    config = head_config(None, CACHES)
    assert generated_registry(config) is None
    instruction = (
        "// Uncomment for pipelines whose own config sets docker.registry = 'quay.io', e.g. nf-core >= tools 2.8:"
    )
    base, block = config.split(f"\n{instruction}\n")
    uncommented = "\n" + "".join(line.removeprefix("// ") + "\n" for line in block.splitlines())
    assert generated_registry(uncommented) == CACHES["quay.io"] and base + uncommented != config
    assert all(line.startswith("// ") for line in block.splitlines())
    assert generated_registry(head_config(None, {})) is None and instruction not in head_config(None, {})


def test_an_unqualified_docker_hub_name_breaks_under_a_blanket_quay_registry():
    # Why the head never sets docker.registry for other pipelines: ubuntu:22.04 would be looked up on quay.io.
    pulled = nextflow_25_04_name("ubuntu:22.04", CACHES["quay.io"])
    assert (
        holder(pulled) == ("quay", "ubuntu:22.04") != holder("ubuntu:22.04") == ("docker-hub", "library/ubuntu:22.04")
    )


def test_docker_hub_through_its_cache_needs_library_for_official_images():
    # ECR User Guide, pull-through-cache-working-pulling: "For Docker Hub official images, the /library prefix must
    # be included": docker.registry pointing at the Docker Hub cache sends ubuntu:22.04 to repository `ubuntu`.
    hub = cache_map(ACCOUNT, REGION, BASE, {"docker-hub": (None, None)})
    config = head_config("my-lab/variants", hub, asked="docker.io")
    assert "library/ubuntu:22.04, not ubuntu:22.04" in config
    hub_rule = cache_rules(BASE, {"docker-hub": (None, None)})[0]
    pulled = nextflow_25_04_name("ubuntu:22.04", generated_registry(config))
    assert split_registry(pulled)[1] == f"{hub_rule.ecr_repository_prefix}/ubuntu:22.04"  # not library/ubuntu
    assert nextflow_25_04_name("library/ubuntu:22.04", generated_registry(config)).endswith(
        "docker-hub/library/ubuntu:22.04"
    )


@pytest.mark.parametrize(
    "image",
    [
        "public.ecr.aws/lts/ubuntu:22.04",
        "ghcr.io/nextflow-io/demo:v1",
        "community.wave.seqera.io/library/fastqc:0.12.1--af7a5314d5015c29",
    ],
)
def test_registry_override_of_25_10_would_send_qualified_names_to_a_cache_that_lacks_them(image):
    # Why the stack stays on 25.04.6 without docker.registryOverride: one docker.registry for every qualified name.
    pulled = nextflow_25_10_name(image, CACHES["quay.io"], override=True)
    assert holder(pulled)[0] == "quay" != holder(image)[0]
    assert nextflow_25_10_name(image, CACHES["quay.io"], override=False) == nextflow_25_04_name(
        image, CACHES["quay.io"]
    )


HUB_CACHES = {**CACHES, **cache_map(ACCOUNT, REGION, BASE, {"docker-hub": (None, None)})}


@pytest.mark.parametrize(
    ("own", "caches", "asked", "host"),
    [
        ("quay.io", CACHES, None, "quay.io"),  # nf-core >= tools 2.8, or any pipeline on its template
        ("quay.io/", CACHES, None, "quay.io"),  # Nextflow adds the '/' itself (normalizeDockerImageName)
        ("quay.io", {}, None, None),  # registryCache off
        (None, CACHES, None, None),  # no docker.registry: Docker Hub's names, not in any default cache
        ("ghcr.io", CACHES, None, None),  # a registry the stack does not cache
        ("docker.io", HUB_CACHES, None, None),  # Docker Hub only when asked: official images need library/
        (None, HUB_CACHES, "docker.io", "docker.io"),
        ("quay.io", CACHES, "public.ecr.aws", "public.ecr.aws"),
        ("quay.io", CACHES, "none", None),
    ],
)
def test_which_cache_a_run_routes_unqualified_names_through(own, caches, asked, host):
    assert unqualified_registry(own, caches, asked) == host


def test_asking_for_a_host_without_a_cache_is_refused():
    message = "NF_UNQUALIFIED_REGISTRY=ghcr.io: the stack has no cache of it; cached: public.ecr.aws, quay.io"
    with pytest.raises(ValueError, match=re.escape(message)):
        unqualified_registry("hello", CACHES, "ghcr.io")


def head_environment_of(run, definition: str) -> dict[str, str]:
    properties = json.loads(
        run.mocks.named(definition, "aws:batch/jobDefinition:JobDefinition").inputs["containerProperties"]
    )
    return {e["name"]: e["value"] for e in properties["environment"]}


def test_the_stacks_head_and_every_teams_head_carry_the_stacks_caches():
    run = run_program("dev", {"genomics-batch:teams": {"rnalab": {}, "core": {}}})
    caches = run.outputs["registryCaches"]
    assert set(caches) >= {"quay.io", "public.ecr.aws"}  # registryCache on by default (facts.registries)
    for definition in ("nextflow-definition", "teams-rnalab-head", "teams-core-head"):
        assert head_environment_of(run, definition)["NF_REGISTRY_CACHES"] == registry_caches_env(caches)
    # A team's exported config shows the quay.io scope commented out too, with the team's share identifier.
    config = run.outputs["teams"]["rnalab"]["nextflowConfig"]
    assert generated_registry(config) is None and f"//     registry = '{caches['quay.io']}'" in config
    assert "shareIdentifier = 'rnalab'" in config
    # Seqera Platform applies its config to every pipeline it launches: no docker scope there, not even commented.
    seqera = run.outputs["teams"]["rnalab"]["seqeraPlatform"]["nextflowConfig"]
    assert generated_registry(seqera) is None and seqera == config.split("\n// Uncomment for pipelines")[0]


def test_a_stack_without_caches_routes_nothing():
    run = run_program("dev", {"genomics-batch:registryCache": {"enabled": False}})
    assert "NF_REGISTRY_CACHES" not in head_environment_of(run, "nextflow-definition")
    assert "registryCaches" not in run.outputs and generated_registry(run.outputs["nextflowConfig"]) is None


@pytest.mark.parametrize("host", sorted(HUB_CACHES))
def test_nfbatch_config_renders_the_scope_the_head_writes_when_asked(host):
    # nfbatch never imports Pulumi for a verb, so it renders the asked-for scope itself: byte for byte the head's.
    export = head_config(None, HUB_CACHES)
    asked = head_config(None, HUB_CACHES, asked=host)
    assert export.split(COMMENTED_DOCKER_SCOPE)[0] + asked_docker_scope(host, HUB_CACHES[host]) == asked
    assert generated_registry(asked) == HUB_CACHES[host]


def nfbatch_config(tmp_path, capsys, *args: str) -> tuple[int, str, str, dict]:
    run = run_program("dev", {})
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(run.outputs))
    code = main(["--outputs", str(path), "config", *args])
    out, err = capsys.readouterr()
    return code, out, err, run.outputs


def test_nfbatch_config_prints_the_scope_commented_out_unless_asked(tmp_path, capsys):
    code, out, _, outputs = nfbatch_config(tmp_path, capsys)
    assert code == 0 and out == outputs["nextflowConfig"] and generated_registry(out) is None
    code, out, _, outputs = nfbatch_config(tmp_path, capsys, "--unqualified-registry", "quay.io")
    base = outputs["nextflowConfig"].split(COMMENTED_DOCKER_SCOPE)[0]
    assert code == 0 and out == base + asked_docker_scope("quay.io", outputs["registryCaches"]["quay.io"])
    code, out, _, _ = nfbatch_config(tmp_path, capsys, "--unqualified-registry", "none")
    assert code == 0 and out == base


def test_nfbatch_config_refuses_a_host_the_stack_does_not_cache(tmp_path, capsys):
    # The same check as `nfbatch run --unqualified-registry` (nfbatch/runs.py check_unqualified_registry).
    code, out, err, _ = nfbatch_config(tmp_path, capsys, "--unqualified-registry", "ghcr.io")
    assert code != 0 and not out and "--unqualified-registry ghcr.io: the stack has no cache of it" in err
    assert "public.ecr.aws, quay.io, or none" in err


def test_the_rate_limit_hint_names_library_for_docker_hub_official_images():
    # ECR User Guide, pull-through-cache-working-pulling: "For Docker Hub official images, the /library prefix must be
    # included. For all other Docker Hub repositories, you should omit the /library prefix."
    cache = HUB_CACHES["docker.io"]
    limited = "CannotPullContainerError: toomanyrequests: You have reached your pull rate limit"
    assert f"pull ubuntu:22.04 as {cache}/library/ubuntu:22.04 instead" in pull_hint(
        limited, HUB_CACHES, "ubuntu:22.04"
    )
    assert f"as {cache}/library/ubuntu:22.04" in pull_hint(limited, HUB_CACHES, "docker.io/ubuntu:22.04")
    user = pull_hint(limited, HUB_CACHES, "broadinstitute/gatk:4.5.0.0")
    assert f"as {cache}/<repository>" in user and "library" not in user


def test_nfbatch_config_refuses_the_registry_for_the_schema_and_reference(capsys):
    assert main(["config", "schema", "--unqualified-registry", "quay.io"]) != 0
    assert "--unqualified-registry changes the nextflow.config, not the schema" in capsys.readouterr().err
