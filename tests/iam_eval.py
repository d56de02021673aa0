"""A small IAM policy evaluator for the tests: explicit Deny wins, then any Allow; `*` and `?` wildcards in actions
(case-insensitive) and resources (case-sensitive). Conditions and NotAction/NotResource are not modelled: the
policies under test use neither."""

from __future__ import annotations

import fnmatch
import re


def _matches(pattern: str, value: str, case_sensitive: bool) -> bool:
    regex = fnmatch.translate(pattern)  # * and ? as IAM uses them; [] never appears in ARNs we test
    return re.match(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _listed(value) -> list[str]:
    return value if isinstance(value, list) else [value]


def decision(documents: list[dict], action: str, resource: str) -> str:
    """"Allow", "Deny" (explicit) or "ImplicitDeny" for one action on one resource ARN."""
    allowed = False
    for document in documents:
        statements = document["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            assert not {"Condition", "NotAction", "NotResource"} & set(statement), "not modelled"
            if not any(_matches(a, action, case_sensitive=False) for a in _listed(statement["Action"])):
                continue
            if not any(_matches(r, resource, case_sensitive=True) for r in _listed(statement["Resource"])):
                continue
            if statement["Effect"] == "Deny":
                return "Deny"
            allowed = True
    return "Allow" if allowed else "ImplicitDeny"
