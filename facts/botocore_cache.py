"""What the settings derive from botocore's offline data (EC2 instance types, regions and their partitions), kept on
disk per botocore version: parsing botocore's EC2 model and endpoint data took about a fifth of a plan.

One JSON file per botocore version, in $GENOMICS_BATCH_CACHE_DIR, else $XDG_CACHE_HOME/genomics-batch, else
~/.cache/genomics-batch (XDG Base Directory Specification). A missing, unreadable or malformed file is worked out
again from botocore; a directory that cannot be written costs the speed-up, never the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CACHE_DIR_VARIABLE = "GENOMICS_BATCH_CACHE_DIR"
# The shape of a cache file: a file of another format is ignored (and replaced).
CACHE_FORMAT = 1


@dataclass(frozen=True)
class BotocoreFacts:
    instance_types: frozenset[str]  # the EC2 model's InstanceType enum
    region_partitions: dict[str, str]  # every region botocore knows EC2 in, and its ARN partition


def cache_dir() -> Path:
    if os.environ.get(CACHE_DIR_VARIABLE):
        return Path(os.environ[CACHE_DIR_VARIABLE])
    # XDG Base Directory Specification: "If $XDG_CACHE_HOME is either not set or empty, a default equal to
    # $HOME/.cache should be used."
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genomics-batch"


def botocore_version() -> str:
    import botocore  # its __init__ only: the version costs no model parsing

    return str(botocore.__version__)


def reads_only_botocore_data() -> bool:
    """Whether botocore would read its own data alone, so that its version decides the facts. Models in
    ~/.aws/models or on AWS_DATA_PATH come first (botocore/loaders.py, Loader.CUSTOMER_DATA_PATH and
    create_loader; botocore/configprovider.py, data_path), and a version knows nothing of them."""
    return not os.environ.get("AWS_DATA_PATH") and not (Path.home() / ".aws" / "models").exists()


def derive() -> BotocoreFacts:
    """The facts as botocore gives them, without network calls (the slow path the cache spares)."""
    import botocore.session

    session = botocore.session.get_session()
    types = frozenset(session.get_service_model("ec2").shape_for("InstanceType").enum)
    regions = {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    }
    return BotocoreFacts(types, {region: session.get_partition_for_region(region) for region in sorted(regions)})


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def read_cache(path: Path, version: str) -> BotocoreFacts | None:
    """The facts a cache file holds for this botocore version, or None for any file that is not exactly that."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or data.get("botocore") != version:
        return None
    types, partitions = data.get("instanceTypes"), data.get("regionPartitions")
    if (
        not _strings(types)
        or not types
        or not isinstance(partitions, dict)
        or not partitions
        or not _strings(list(partitions))
        or not _strings(list(partitions.values()))
    ):
        return None
    return BotocoreFacts(frozenset(types), dict(partitions))


def write_cache(path: Path, version: str, facts: BotocoreFacts) -> None:
    """Write the file whole or not at all (a temporary file renamed over it), so that a concurrent plan reads either
    the old file or the new one; a directory that cannot be written leaves things as they were."""
    document = {
        "format": CACHE_FORMAT,
        "botocore": version,
        "instanceTypes": sorted(facts.instance_types),
        "regionPartitions": facts.region_partitions,
    }
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as handle:
            temporary = Path(handle.name)
            json.dump(document, handle)
        os.replace(temporary, path)
    except OSError:
        if temporary is not None:
            with contextlib.suppress(OSError):
                temporary.unlink()


@cache
def botocore_facts() -> BotocoreFacts:
    """The facts, from this botocore version's cache file when there is a good one, else from botocore (and then
    saved for the next process)."""
    if not reads_only_botocore_data():
        return derive()
    version = botocore_version()
    path = cache_dir() / f"botocore-{version}.json"
    found = read_cache(path, version)
    if found is not None:
        return found
    facts = derive()
    write_cache(path, version, facts)
    return facts
