"""The pull-request comment: every stack's plan against the base in one comment that always fits GitHub's limit, and
the pick of the comment to update, found by its own marker so a pulumi/actions comment is never touched.

    python -m nfbatch.pr_comment compose --base BRANCH --verdict GUARD.md --artifact-url URL PLAN.json...
    python -m nfbatch.pr_comment find COMMENTS.json      the id of our earlier comment, if any

Each PLAN.json (`nfbatch plan --stack S --base REF --format json`) has its markdown beside it as PLAN.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nfbatch.errors import NfbatchError
from nfbatch.guardrails import load_plan

# The first line of our comment, and how `find` tells it from every other comment, pulumi/actions' included (those
# start with "#### :tropical_drink: `<command>` on <project>/<stack>": pulumi/actions src/libs/pr.ts).
MARKER = "<!-- genomics-batch plan -->"
# The author of comments made with a workflow's GITHUB_TOKEN; a user quoting the marker is never edited.
BOT = "github-actions[bot]"
# GitHub refuses bodies over 65,536 characters (pulumi/actions src/libs/pr.ts keeps its own under 64,000 for it);
# ours stays under 65,000, the bound `nfbatch plan --format markdown` keeps for one stack.
LIMIT = 65_000
ORDER = ("create", "update", "replace", "delete")


def summary(plan: dict) -> str:
    """What `pulumi up` would do, in Pulumi's words: `1 to create, 2 to replace`."""
    counts = {action: sum(c["action"] == action for c in plan["changes"]) for action in ORDER}
    return ", ".join(f"{n} to {action}" for action, n in counts.items() if n) or "no changes"


def _close(cut: str) -> str:
    """Close what a cut left open, so the rest of the comment still renders: a code fence, <details> blocks."""
    if sum(line.lstrip().startswith("```") for line in cut.splitlines()) % 2:
        cut += "\n```"
    return cut + "\n</details>" * max(0, cut.count("<details") - cut.count("</details>"))


def fit(markdown: str, budget: int, where: str) -> str:
    """`markdown` whole when it fits `budget`, else cut at a line with a note saying where the whole text is."""
    if len(markdown) <= budget:
        return markdown
    note = f"\n\n*… the rest is left out to fit GitHub's comment limit: the whole plan is {where}.*"
    room = budget - len(note)
    while room > 0:
        cut = markdown[:room].rsplit("\n", 1)[0] if "\n" in markdown[:room] else ""
        fitted = _close(cut) + note
        if len(fitted) <= budget:
            return fitted
        room -= len(fitted) - budget  # the closing tags took the room: cut earlier
    return ""  # not even the note fits: the table above still names the stack


def _shares(sizes: list[int], budget: int) -> list[int]:
    """Split `budget` so that small sections stay whole and the large ones share what is left equally."""
    shares = [0] * len(sizes)
    left = budget
    for rank, i in enumerate(sorted(range(len(sizes)), key=lambda i: sizes[i])):
        shares[i] = min(sizes[i], left // (len(sizes) - rank))
        left -= shares[i]
    return shares


def compose(sections: list[tuple[dict, str]], base: str, verdict: str, artifact_url: str, limit: int = LIMIT) -> str:
    """The comment: a table of every stack, the data check, then each changed stack's plan, fitted to `limit`."""
    where = f"in the [plans artifact]({artifact_url})" if artifact_url else "in this run's plans artifact"
    rows = [f"| `{plan['stack']}` | {summary(plan)} |" for plan, _ in sections]
    table = ["| stack | what `pulumi up` would do |", "|---|---|", *rows]
    full = f"Every stack's full plan (JSON and markdown) is {where}."
    head = "\n".join(
        [MARKER, f"### genomics-batch plan against `{base}`", "", *table, "", verdict.strip(), "", full, ""]
    )
    changed = [(plan, md) for plan, md in sections if plan["changes"]]
    bodies = [f"\n#### `{plan['stack']}`\n\n{md.strip()}\n" for plan, md in changed]
    shares = _shares([len(b) for b in bodies], max(0, limit - len(head)))
    text = head + "".join(fit(body, share, where) for body, share in zip(bodies, shares, strict=True))
    return fit(text, limit, where)  # only a head alone over the limit (thousands of stacks) gets here


def find(comments_json: str) -> int | None:
    """The id of our earliest comment among `gh api --paginate .../comments` output (one JSON array per page)."""
    decoder, text, pos, comments = json.JSONDecoder(), comments_json.strip(), 0, []
    while pos < len(text):
        page, pos = decoder.raw_decode(text, pos)
        comments += page
        while pos < len(text) and text[pos].isspace():
            pos += 1
    ours = [c for c in comments if c["user"]["login"] == BOT and c["body"].startswith(MARKER)]
    return min((c["id"] for c in ours), default=None)


def _sections(paths: list[Path]) -> list[tuple[dict, str]]:
    sections = []
    for path in paths:
        markdown = path.with_suffix(".md")
        if not path.is_file() or not markdown.is_file():
            raise NfbatchError(f"{path}: needs the plan JSON and its markdown beside it ({markdown})")
        sections.append((load_plan(path.read_text(), str(path)), markdown.read_text()))
    return sorted(sections, key=lambda s: s[0]["stack"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nfbatch.pr_comment", description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    composing = verbs.add_parser("compose", help="the comment body, on stdout")
    composing.add_argument("plans", nargs="+", type=Path, metavar="PLAN.json")
    composing.add_argument("--base", required=True, help="the base branch the plans were made against")
    composing.add_argument("--verdict", type=Path, required=True, help="python -m nfbatch.guardrails output")
    composing.add_argument("--artifact-url", default="", help="where the full plans are")
    finding = verbs.add_parser("find", help="the id of our earlier comment, or nothing")
    finding.add_argument("comments", type=Path, help="gh api --paginate repos/O/R/issues/N/comments output")
    args = parser.parse_args(argv)
    try:
        if args.verb == "find":
            found = find(args.comments.read_text())
            sys.stdout.write(f"{found}\n" if found is not None else "")
            return 0
        sections = _sections(args.plans)
        sys.stdout.write(compose(sections, args.base, args.verdict.read_text(), args.artifact_url))
    except (NfbatchError, OSError, ValueError, KeyError, TypeError) as error:
        message = error.message if isinstance(error, NfbatchError) else f"{type(error).__name__}: {error}"
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
