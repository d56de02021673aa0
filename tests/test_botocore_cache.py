"""The botocore cache: the same facts botocore gives, one file per botocore version, and any bad file ignored."""

import json
import tempfile
from pathlib import Path

import botocore.session
import pytest

from facts import botocore_cache
from facts.botocore_cache import CACHE_DIR_VARIABLE, BotocoreFacts, botocore_facts, derive, read_cache, write_cache

FAKE = BotocoreFacts(frozenset({"fake1.large"}), {"us-fake-1": "aws"})


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory of its own, and the process-wide answer forgotten before and after."""
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(tmp_path))
    botocore_facts.cache_clear()
    yield tmp_path
    botocore_facts.cache_clear()


@pytest.fixture
def derived(monkeypatch):
    """Counts the slow path and answers with FAKE."""
    calls = []
    monkeypatch.setattr(botocore_cache, "derive", lambda: calls.append(1) or FAKE)
    return calls


def test_the_facts_are_what_botocore_says():
    session = botocore.session.get_session()
    facts = derive()
    assert facts.instance_types == set(session.get_service_model("ec2").shape_for("InstanceType").enum)
    assert {"m6i.large", "g5.xlarge", "c7g.medium"} <= facts.instance_types
    regions = {
        r for p in session.get_available_partitions() for r in session.get_available_regions("ec2", partition_name=p)
    }
    assert set(facts.region_partitions) == regions
    assert {r: facts.region_partitions[r] for r in ("us-east-1", "cn-north-1", "us-gov-west-1")} == {
        "us-east-1": "aws",
        "cn-north-1": "aws-cn",
        "us-gov-west-1": "aws-us-gov",
    }


def test_the_tests_keep_the_cache_in_a_temporary_directory():
    # tests/conftest.py points the cache there: no test writes to the user's ~/.cache.
    assert botocore_cache.cache_dir().is_relative_to(tempfile.gettempdir())


def test_the_cache_directory_follows_the_variable_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(tmp_path / "own"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert botocore_cache.cache_dir() == tmp_path / "own"
    monkeypatch.delenv(CACHE_DIR_VARIABLE)
    assert botocore_cache.cache_dir() == tmp_path / "xdg" / "genomics-batch"
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # the XDG spec: set but empty counts as unset
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert botocore_cache.cache_dir() == tmp_path / "home" / ".cache" / "genomics-batch"


def test_a_second_process_reads_the_file_the_first_one_wrote(cache, derived, monkeypatch):
    monkeypatch.setattr(botocore_cache, "botocore_version", lambda: "1.40.0")
    assert botocore_facts() == FAKE and derived == [1]
    assert json.loads((cache / "botocore-1.40.0.json").read_text())["instanceTypes"] == ["fake1.large"]
    botocore_facts.cache_clear()  # as a new process would start
    assert botocore_facts() == FAKE and derived == [1]  # read, not derived again


def test_a_new_botocore_version_misses_the_cache(cache, derived, monkeypatch):
    old = BotocoreFacts(frozenset({"old1.large"}), {"us-east-1": "aws"})
    write_cache(cache / "botocore-1.40.0.json", "1.40.0", old)
    monkeypatch.setattr(botocore_cache, "botocore_version", lambda: "1.40.0")
    assert botocore_facts() == old and derived == []
    botocore_facts.cache_clear()
    monkeypatch.setattr(botocore_cache, "botocore_version", lambda: "1.41.0")
    assert botocore_facts() == FAKE and derived == [1]
    assert read_cache(cache / "botocore-1.41.0.json", "1.41.0") == FAKE
    # A file renamed to another version's name still says which version wrote it, and is not believed.
    (cache / "botocore-1.42.0.json").write_text((cache / "botocore-1.40.0.json").read_text())
    assert read_cache(cache / "botocore-1.42.0.json", "1.42.0") is None


CORRUPT = [
    "{not json",
    "",
    "[]",
    json.dumps({"format": 1, "botocore": "1.40.0"}),
    json.dumps(
        {"format": 99, "botocore": "1.40.0", "instanceTypes": ["m6i.large"], "regionPartitions": {"us-east-1": "aws"}}
    ),
    json.dumps(
        {"format": 1, "botocore": "1.40.0", "instanceTypes": "m6i.large", "regionPartitions": {"us-east-1": "aws"}}
    ),
    json.dumps({"format": 1, "botocore": "1.40.0", "instanceTypes": [], "regionPartitions": {"us-east-1": "aws"}}),
    json.dumps({"format": 1, "botocore": "1.40.0", "instanceTypes": ["m6i.large"], "regionPartitions": {"a": 1}}),
]


@pytest.mark.parametrize("text", CORRUPT, ids=range(len(CORRUPT)))
def test_a_corrupt_cache_file_is_ignored_and_replaced(cache, derived, monkeypatch, text):
    path = cache / "botocore-1.40.0.json"
    path.write_text(text)
    monkeypatch.setattr(botocore_cache, "botocore_version", lambda: "1.40.0")
    assert read_cache(path, "1.40.0") is None
    assert botocore_facts() == FAKE and derived == [1]
    assert read_cache(path, "1.40.0") == FAKE


def test_a_file_that_is_not_utf8_is_ignored(tmp_path):
    path = tmp_path / "botocore-1.40.0.json"
    path.write_bytes(b'{"format": 1, "botocore": "\xff"}')
    assert read_cache(path, "1.40.0") is None


def test_a_cache_that_cannot_be_written_costs_only_the_speed(cache, derived, monkeypatch):
    blocker = cache / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(blocker / "cache"))
    assert botocore_facts() == FAKE and derived == [1]
    assert sorted(p.name for p in cache.iterdir()) == ["not-a-directory"]  # no temporary file left behind


def test_models_of_ones_own_bypass_the_cache(cache, derived, monkeypatch, tmp_path):
    # botocore reads AWS_DATA_PATH and ~/.aws/models before its own data (botocore/loaders.py): a version says
    # nothing about them, so nothing is cached or read then.
    write_cache(
        cache / f"botocore-{botocore_cache.botocore_version()}.json",
        botocore_cache.botocore_version(),
        BotocoreFacts(frozenset({"cached1.large"}), {"us-east-1": "aws"}),
    )
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path / "models"))
    assert botocore_facts() == FAKE and derived == [1]
    botocore_facts.cache_clear()
    monkeypatch.delenv("AWS_DATA_PATH")
    monkeypatch.setenv("HOME", str(tmp_path))
    (Path(tmp_path) / ".aws" / "models").mkdir(parents=True)
    assert botocore_facts() == FAKE and derived == [1, 1]
