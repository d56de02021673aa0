"""The genomics-batch CrossGuard pack: `pulumi preview --policy-pack policies/guard`. The rules live in rules.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root, for policies.*

from pulumi_policy import PolicyPack

from policies.guard.rules import POLICIES

PolicyPack(name="genomics-batch-guard", policies=POLICIES)
