"""A small IAM evaluator for `nfbatch doctor`: may a role's own policies do one action on one resource?

Plain functions on policy documents (moto 5.2.5 has no iam SimulatePrincipalPolicy to ask instead).
"""

from __future__ import annotations

import fnmatch
import json
import re
import urllib.parse

# The IAM policy evaluation logic (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
# "An explicit deny in any policy overrides any allows"; without an allow the request is implicitly denied. Actions
# match case-insensitively, resources case-sensitively, both with the `*` and `?` wildcards (IAM JSON policy
# elements: Action, Resource). A statement with a Condition is not decided here: doctor has no request context.
ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"


def document(value: str | dict) -> dict:
    """A policy document as IAM returns it: boto3 decodes GetRolePolicy/GetPolicyVersion documents to dicts, the raw
    API gives them URL-encoded JSON ("PolicyDocument ... URL-encoded compliant with RFC 3986", botocore's IAM model)."""
    return value if isinstance(value, dict) else json.loads(urllib.parse.unquote(value))


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _matches(patterns, value: str, case_sensitive: bool) -> bool:
    flags = 0 if case_sensitive else re.IGNORECASE
    return any(re.match(fnmatch.translate(p), value, flags) for p in _listed(patterns))


def _applies(statement: dict, action: str, resource: str) -> bool:
    if "Action" in statement:
        acts = _matches(statement["Action"], action, case_sensitive=False)
    else:
        acts = not _matches(statement.get("NotAction", []), action, case_sensitive=False)
    if "Resource" in statement:
        on = _matches(statement["Resource"], resource, case_sensitive=True)
    else:
        on = not _matches(statement.get("NotResource", []), resource, case_sensitive=True)
    return acts and on


def decision(documents: list[dict], action: str, resource: str) -> str:
    """ALLOW, DENY (explicit) or IMPLICIT_DENY for `action` on `resource` under identity policies `documents`;
    statements with a Condition are skipped (neither granting nor denying)."""
    allowed = False
    for doc in documents:
        for statement in _listed(doc.get("Statement", [])):
            if statement.get("Condition") or not _applies(statement, action, resource):
                continue
            if statement.get("Effect") == DENY:
                return DENY
            allowed = allowed or statement.get("Effect") == ALLOW
    return ALLOW if allowed else IMPLICIT_DENY


def names_principal(statement: dict, principal_arn: str) -> bool:
    """Whether a resource-policy statement (ECR's registry policy) names this principal itself, or everyone."""
    principal = statement.get("Principal")
    if principal == "*":
        return True
    listed = _listed(principal.get("AWS", [])) if isinstance(principal, dict) else []
    return "*" in listed or principal_arn in listed


def for_principal(resource_policy: dict, principal_arn: str) -> dict:
    """The statements of a resource policy that name `principal_arn` (or `*`), as a document `decision` reads. In
    one account a resource policy naming the role grants on its own ("... an allow in either policy", IAM policy
    evaluation logic, same-account requests); one naming the account root leaves the decision to IAM."""
    statements = [s for s in _listed(resource_policy.get("Statement", [])) if names_principal(s, principal_arn)]
    return {"Statement": statements}
