"""A small IAM policy evaluator for the tests: explicit Deny wins, then any Allow; `*` and `?` wildcards in actions
(case-insensitive) and resources (case-sensitive); the StringEquals and StringLike condition operators on the
request's context keys, where a key the request lacks fails the condition (IAM JSON policy reference, "Condition
operators"). NotAction/NotResource and other operators are not modelled: the policies under test use none."""

from __future__ import annotations

import fnmatch
import re

OPERATORS = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringLike": lambda pattern, value: _matches(pattern, value, case_sensitive=True),
}


def _matches(pattern: str, value: str, case_sensitive: bool) -> bool:
    regex = fnmatch.translate(pattern)  # * and ? as IAM uses them; [] never appears in ARNs we test
    return re.match(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _listed(value) -> list[str]:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: dict, context: dict[str, str]) -> bool:
    for operator, keys in condition.items():
        assert operator in OPERATORS, f"{operator} is not modelled"
        for key, patterns in keys.items():
            value = context.get(key)
            if value is None or not any(OPERATORS[operator](p, value) for p in _listed(patterns)):
                return False
    return True


def decision(documents: list[dict], action: str, resource: str, context: dict[str, str] | None = None) -> str:
    """ "Allow", "Deny" (explicit) or "ImplicitDeny" for one action on one resource ARN, with the request's
    condition keys in `context` (such as batch:ShareIdentifier or s3:prefix)."""
    allowed = False
    for document in documents:
        statements = document["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            assert not {"NotAction", "NotResource"} & set(statement), "not modelled"
            if not any(_matches(a, action, case_sensitive=False) for a in _listed(statement["Action"])):
                continue
            if not any(_matches(r, resource, case_sensitive=True) for r in _listed(statement["Resource"])):
                continue
            if not _condition_holds(statement.get("Condition", {}), context or {}):
                continue
            if statement["Effect"] == "Deny":
                return "Deny"
            allowed = True
    return "Allow" if allowed else "ImplicitDeny"
