#!/usr/bin/env bash
# Entrypoint of the Nextflow head job. It writes nextflow.config for this stack from the NF_* variables the job
# definition sets, keeps the run's resume cache in S3 with Nextflow's own cloud cache, resumes automatically when
# Batch retries the head after losing its host or being stopped by AWS (cancelling the lost attempt's tasks first),
# runs `nextflow run PIPELINE ARGS...`, forwards SIGTERM (Batch's stop signal) to Nextflow so it cancels its task
# jobs and then exits 143, and on any exit uploads .nextflow.log. Usage: entrypoint.sh PIPELINE [NEXTFLOW RUN ARGS...]
set -euo pipefail

log() { echo "entrypoint: $*" >&2; }

if [[ $# -lt 1 ]]; then
  log "usage: entrypoint.sh PIPELINE [NEXTFLOW RUN ARGS...]"
  exit 64
fi

for var in NF_WORKDIR NF_LOGSDIR NF_CACHEDIR NF_JOB_QUEUE NF_PRIORITY_QUEUE NF_TASK_JOB_ROLE NF_AWS_REGION; do
  value="${!var:-}"
  if [[ -z "$value" ]]; then
    log "$var is not set; the stack's job definition sets it"
    exit 64
  fi
  # The values land inside single-quoted Groovy strings.
  if [[ "$value" == *"'"* || "$value" == *"\\"* ]]; then
    log "$var must not contain quotes or backslashes: $value"
    exit 64
  fi
done
NF_AWS_CLI_PATH="${NF_AWS_CLI_PATH:-/opt/aws-cli/bin/aws}"
NF_GPU_QUEUE="${NF_GPU_QUEUE:-}"
if [[ "$NF_GPU_QUEUE" == *"'"* || "$NF_GPU_QUEUE" == *"\\"* ]]; then
  log "NF_GPU_QUEUE must not contain quotes or backslashes: $NF_GPU_QUEUE"
  exit 64
fi
# A team's head job definition names the team: its share identifier on the fair-share queues and its Team tag.
NF_TEAM="${NF_TEAM:-}"
if [[ -n "$NF_TEAM" && ! "$NF_TEAM" =~ ^[a-z][a-z0-9-]{1,31}$ ]]; then
  log "NF_TEAM must be a team name (2-32 lowercase letters, digits or '-'): $NF_TEAM"
  exit 64
fi
# The stack's registry caches as host=uri pairs (components/head_job.py, registry_caches_env), and the one whose URI
# becomes docker.registry for this run, which Nextflow 25.04.6 prefixes only to image names without a registry
# (ContainerHandler.groovy, normalizeDockerImageName): the cache of the registry the pipeline's own config names for
# those names (own_docker_registry below; never guessed from the pipeline's name), or the cache NF_UNQUALIFIED_REGISTRY
# names (or none).
declare -A caches=()
read -ra cache_pairs <<< "${NF_REGISTRY_CACHES:-}"
for pair in "${cache_pairs[@]}"; do
  host="${pair%%=*}"
  uri="${pair#*=}"
  if [[ "$pair" != *=* || ! "$host" =~ ^[a-z0-9.-]+(:[0-9]+)?$ || ! "$uri" =~ ^[a-z0-9.-]+(/[a-z0-9._-]+)+$ ]]; then
    log "NF_REGISTRY_CACHES must be host=uri pairs (the job definition sets them): $pair"
    exit 64
  fi
  caches["$host"]="$uri"
done
asked_registry="${NF_UNQUALIFIED_REGISTRY:-}"
registry_host=""
registry_why=""
if [[ -n "$asked_registry" && ! "$asked_registry" =~ ^[a-z0-9.-]+(:[0-9]+)?$ ]]; then
  log "NF_UNQUALIFIED_REGISTRY must be a registry host such as quay.io, or none: $asked_registry"
  exit 64
fi
if [[ -n "$asked_registry" && "$asked_registry" != none ]]; then
  if [[ -z "${caches[$asked_registry]+set}" ]]; then
    cached="none: the stack's registryCache is off"
    if [[ ${#caches[@]} -gt 0 ]]; then
      cached=$(printf '%s\n' "${!caches[@]}" | LC_ALL=C sort | paste -sd ',' - | sed 's/,/, /g')
    fi
    log "NF_UNQUALIFIED_REGISTRY=$asked_registry: the stack has no cache of it; cached: $cached"
    exit 64
  fi
  registry_host="$asked_registry"
  registry_why="Asked for with --unqualified-registry $asked_registry: names without a registry use its cache."
fi
# The pipeline tags every task job (nfbatch-pipeline): ECS, where the propagated tags land, allows letters, digits,
# spaces and _.:/=+-@ in up to 256 characters (botocore's ECS model, TagValue); anything else, byte by byte, is "_".
pipeline_label=$(LC_ALL=C; value="${1//[^A-Za-z0-9 _.:\/=+@-]/_}"; printf '%s' "${value:0:256}")
# The instance's IMDS answers one hop only, so containers cannot look the region up there: name it for every SDK
# and CLI call this job makes (Nextflow's own come from aws.region in the config).
export AWS_REGION="${AWS_REGION:-$NF_AWS_REGION}" AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$NF_AWS_REGION}"
NF_MAX_SPOT_ATTEMPTS="${NF_MAX_SPOT_ATTEMPTS:-3}"
if [[ ! "$NF_MAX_SPOT_ATTEMPTS" =~ ^[0-9]+$ ]]; then
  log "NF_MAX_SPOT_ATTEMPTS must be a whole number: $NF_MAX_SPOT_ATTEMPTS"
  exit 64
fi

# The run name keys the resume cache and the log folder: `nfbatch run --name` sets it, a job id is the fallback.
run_name="${NF_RUN_NAME:-${AWS_BATCH_JOB_ID:-local}}"
if [[ ! "$run_name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ]]; then
  log "NF_RUN_NAME must be 1-128 letters, digits, '.', '_' or '-': $run_name"
  exit 64
fi
cache_uri="${NF_CACHEDIR%/}/$run_name"
logs_uri="${NF_LOGSDIR%/}/$run_name"

launch_dir="${NF_LAUNCH_DIR:-/tmp/nextflow-launch}"
mkdir -p "$launch_dir"
cd "$launch_dir"
config="$launch_dir/genomics-batch.config"

# The pipeline's own docker.registry as `nextflow run` resolves it with the run's -profile: `nextflow config` prints
# an option's value or fails when it is not defined (nextflow v25.04.6 cli/CmdConfig.groovy, -value), reading the
# local checkout, which `nextflow pull` makes and switches to -r (cli/CmdPull.groovy; -hub and -user from
# cli/HubOptions.groovy); a local directory is read as it is. Prints nothing when the pipeline sets none or cannot be
# read (private repository, no network): then nothing is routed, and every name pulls as the pipeline names it.
# Two JVM starts: a few seconds before the run, and never more than NF_REGISTRY_LOOKUP_SECONDS each (a stalled git
# server or a black-holed egress must not hold the run up; timeout is coreutils', in the base image).
# 300: a pipeline repository clones in seconds; five minutes is a network that is not coming back.
lookup_seconds="${NF_REGISTRY_LOOKUP_SECONDS:-300}"
if [[ ! "$lookup_seconds" =~ ^[1-9][0-9]{0,4}$ ]]; then
  log "NF_REGISTRY_LOOKUP_SECONDS must be a whole number of seconds, 1 to 99999: $lookup_seconds"
  exit 64
fi
bounded() {
  if command -v timeout >/dev/null; then timeout "$lookup_seconds" "$@"; else "$@"; fi
}
own_docker_registry() {
  local pipeline="$1" pull_args=() profile_args=() out value i next
  for ((i = 2; i <= $#; i++)); do
    next=$((i + 1))
    case "${!i}" in
      -r | -revision | -hub | -user) [[ $next -le $# ]] && pull_args+=("${!i}" "${!next}") ;;
      -profile) [[ $next -le $# ]] && profile_args=(-profile "${!next}") ;;
    esac
  done
  if [[ ! -e "$pipeline" ]] && ! out=$(bounded nextflow pull "$pipeline" "${pull_args[@]}" 2>&1); then
    log "could not pull $pipeline to read its docker.registry (${out##*$'\n'}): no cache chosen for this run"
    return 0
  fi
  if ! value=$(bounded nextflow config "$pipeline" "${profile_args[@]}" -value docker.registry 2>/dev/null); then
    log "$pipeline sets no docker.registry (or its config could not be read): no cache chosen for this run"
    return 0
  fi
  # The value is the first line; config warnings, if any, follow it on stdout (CmdConfig.run: printValue0, then
  # builder.warnings through logback's console appender).
  value="${value%%$'\n'*}"
  if [[ ! "$value" =~ ^[a-z0-9.-]+(:[0-9]+)?/?$ ]]; then
    log "$pipeline sets docker.registry to $value, not a registry host: no cache chosen for this run"
    return 0
  fi
  printf '%s\n' "${value%/}"
}
# Docker Hub only when asked for: through its cache, official images need library/ (see below).
if [[ -z "$asked_registry" && ${#caches[@]} -gt 0 ]]; then
  own_registry=$(own_docker_registry "$@")
  if [[ -n "$own_registry" && -n "${caches[$own_registry]+set}" && "$own_registry" != docker.io \
        && "$own_registry" != registry-1.docker.io ]]; then
    registry_host="$own_registry"
    registry_why="The pipeline's own config names $own_registry (docker.registry): the same images, through its cache."
  fi
fi
if [[ "$registry_host" == docker.io || "$registry_host" == registry-1.docker.io ]]; then
  # ECR User Guide, pull-through-cache-working-pulling: "For Docker Hub official images, the /library prefix must be
  # included".
  registry_why+=$'\n'"    // Docker Hub's official images need library/ here: library/ubuntu:22.04, not ubuntu:22.04."
fi

queue_choice="task.attempt > 1 ? '$NF_PRIORITY_QUEUE' : '$NF_JOB_QUEUE'"
queue_comment="Spot first; a retried task moves to on-demand capacity."
if [[ "$NF_PRIORITY_QUEUE" == "$NF_JOB_QUEUE" ]]; then
  queue_choice="'$NF_JOB_QUEUE'"
  queue_comment="Every task, retried or not, on the team's own capped spot queue."
fi
labels="'nfbatch-run': '$run_name', 'nfbatch-pipeline': '$pipeline_label'"
share=""
if [[ -n "$NF_TEAM" ]]; then
  labels="$labels, 'Team': '$NF_TEAM'"
  share=$'\n'"        shareIdentifier = '$NF_TEAM'"
fi
if [[ -n "$NF_GPU_QUEUE" ]]; then
  # A process with an accelerator directive needs a GPU instance, which only the GPU queue has.
  queue_choice="task.accelerator ? '$NF_GPU_QUEUE' : ($queue_choice)"
fi

# The submit rate is the stack's contract (facts/contract.py, NEXTFLOW_SUBMIT_RATE_PER_SECOND), a literal here so
# that the job definitions stay as they are; tests/test_container.py checks that the two agree.
write_config() {
  cat <<CONFIG
// Generated by genomics-batch: runs every task as an AWS Batch job on this stack.
workDir = '$NF_WORKDIR'

process {
    executor = 'awsbatch'
    // $queue_comment
    queue = { $queue_choice }
    resourceLabels = { [$labels, 'nfbatch-process': task.process.take(256)] }
}

executor {
    // AWS Batch throttles SubmitJob at about 50/s per account; stay well below it.
    submitRateLimit = '20/1s'
}

aws {
    region = '$NF_AWS_REGION'
    batch {
        cliPath = '$NF_AWS_CLI_PATH'
        jobRole = '$NF_TASK_JOB_ROLE'
        // Batch retries a task whose spot instance was reclaimed, on the same queue, before Nextflow sees a
        // failure (nf-amazon AwsBatchTaskHandler: RETRY on 'Host EC2*'); Nextflow 25.04 defaults this to 0.
        maxSpotAttempts = $NF_MAX_SPOT_ATTEMPTS$share
    }
}
CONFIG
  if [[ -n "$registry_host" ]]; then
    cat <<DOCKER

docker {
    // $registry_why
    // Names with a registry (quay.io/..., public.ecr.aws/..., ghcr.io/...) are pulled as named.
    registry = '${caches[$registry_host]}'
}
DOCKER
  fi
}
write_config > "$config"
if [[ -n "$registry_host" ]]; then
  log "image names without a registry pull through the $registry_host cache: ${caches[$registry_host]}"
else
  log "image names without a registry resolve as the pipeline names them (no cache chosen for this run)"
fi

attempt="${AWS_BATCH_JOB_ATTEMPT:-1}"
[[ "$attempt" =~ ^[0-9]+$ ]] || attempt=1

# shellcheck disable=SC2329  # invoked by the EXIT trap
finish() {
  local status=$?
  trap - EXIT
  if [[ -f .nextflow.log ]]; then
    aws s3 cp --only-show-errors .nextflow.log "$logs_uri/nextflow-attempt-$attempt.log" \
      || log "could not upload .nextflow.log to $logs_uri"
  fi
  exit "$status"
}
trap finish EXIT

uuid_pattern='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

# The lost attempt's task jobs are still queued or running: nobody told Batch. Cancel them (found by the run tag)
# so the resumed run does not compute them twice. A failure here warns: resuming matters more.
cancel_lost_tasks() {
  local queue ids
  for queue in "$NF_JOB_QUEUE" "$NF_PRIORITY_QUEUE"; do
    # A filtered ListJobs returns jobs in every state (unfiltered, it returns RUNNING only); keep the active ones.
    ids=$(aws batch list-jobs --job-queue "$queue" --filters name=JOB_NAME,values='*' --output text \
            --query "jobSummaryList[?status!='SUCCEEDED' && status!='FAILED'].jobId") \
      || { log "could not list the jobs of $queue"; continue; }
    [[ -z "$ids" || "$ids" == None ]] && continue
    # DescribeJobs takes 100 ids at a time.
    # shellcheck disable=SC2086  # word splitting of the id list is intended
    printf '%s\n' $ids | xargs -r -n 100 aws batch describe-jobs \
        --query "jobs[?tags.\"nfbatch-run\"=='$run_name'].jobId" --output text --jobs \
      | tr '\t' '\n' | while read -r id; do
          [[ -z "$id" || "$id" == None ]] && continue
          log "cancelling task job $id of the lost attempt"
          aws batch terminate-job --job-id "$id" --reason "head attempt $attempt resumes the run" >/dev/null \
            || log "could not cancel $id"
        done
  done
}

# Nextflow keeps the resume cache in S3 itself (the nf-cloudcache plugin, baked into the image), under the run's
# own prefix, so any host can resume it. `-resume` alone would look the session up in the local history file,
# which a new host does not have, so the session id is fixed per run and saved beside the cache.
export NXF_CLOUDCACHE_PATH="$cache_uri"
session_uri="$cache_uri/session-id"
resume_requested=false
explicit_session=""
args=()
for ((i = 1; i <= $#; i++)); do
  arg="${!i}"
  next=$((i + 1))
  if [[ "$arg" == -resume && "${!next:-}" =~ $uuid_pattern ]]; then
    explicit_session="${!next}"  # the user named a session: theirs, passed through as given
    args+=("$arg")
  elif [[ "$arg" == -resume ]]; then
    resume_requested=true  # `nfbatch run --resume`: the saved session of this run name
  else
    args+=("$arg")
  fi
done
saved_session=""
if [[ "$resume_requested" == true || "$attempt" -gt 1 ]]; then
  saved_session=$(aws s3 cp --only-show-errors "$session_uri" - 2>/dev/null | tr -d '[:space:]') || saved_session=""
fi
resume=()
if [[ -n "$explicit_session" ]]; then
  session="$explicit_session"
elif [[ ("$resume_requested" == true || "$attempt" -gt 1) && "$saved_session" =~ $uuid_pattern ]]; then
  session="$saved_session"
  resume=(-resume "$session")
  [[ "$attempt" -gt 1 ]] && cancel_lost_tasks
else
  [[ "$resume_requested" == true ]] && log "no saved session for run $run_name: starting it afresh"
  # Batch keeps one job id across attempts: a natural, unique session id for the run.
  session="${AWS_BATCH_JOB_ID:-}"
  [[ "$session" =~ $uuid_pattern ]] || session=$(cat /proc/sys/kernel/random/uuid)
fi
export NXF_UUID="$session"
if [[ "$session" != "$saved_session" ]]; then
  printf '%s\n' "$session" | aws s3 cp --only-show-errors - "$session_uri" || log "could not save the session id"
fi

# The log shows the command without a password: `-user name:password` is how Nextflow takes one on the command line
# (nextflow modules/nextflow/src/main/groovy/nextflow/cli/HubOptions.groovy, getHubPassword).
shown=()
after_user=false
for arg in "${args[@]}"; do
  if [[ "$after_user" == true && "$arg" == *:* ]]; then arg="${arg%%:*}:***"; fi
  if [[ "$arg" == -user=*:* ]]; then arg="${arg%%:*}:***"; fi
  shown+=("$arg")
  after_user=false
  [[ "$arg" == -user ]] && after_user=true
done
log "run $run_name (attempt $attempt, session $session): nextflow run ${shown[*]} ${resume[*]}"
nextflow -c "$config" run "${args[@]}" "${resume[@]}" &
nextflow_pid=$!

stopped=""
# shellcheck disable=SC2329  # invoked by the TERM and INT traps
forward() {
  log "received $1: stopping Nextflow, which cancels its Batch jobs"
  stopped="$1"
  kill -TERM "$nextflow_pid" 2>/dev/null || true
}
trap 'forward TERM' TERM
trap 'forward INT' INT

status=0
while :; do
  # `wait` returns early when a trapped signal arrives; keep waiting until Nextflow itself has exited.
  wait "$nextflow_pid" && status=0 || status=$?
  kill -0 "$nextflow_pid" 2>/dev/null || break
done
log "nextflow exited with status $status"
# Stopped by SIGTERM before the run finished: exit 143 (128 + 15), whatever Nextflow said, so the job definition's
# retry rule on that code resumes the run on a new attempt. Batch never retries a user's stop or a timed-out head, so
# only AWS's own stops (an infrastructure update, Fargate task retirement) come back.
if [[ "$stopped" == TERM && "$status" -ne 0 ]]; then
  log "stopped by SIGTERM: exiting 143 so that Batch retries the head if AWS stopped it"
  status=143
fi
exit "$status"
