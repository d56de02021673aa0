"""Markdown that always fits a pull-request comment: the summary whole, the details in collapsible sections cut to
fit, and a note saying what was left out and where the whole plan is.

Pure functions over lists of lines; `nfbatch plan` builds the parts, this module only fits them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# GitHub refuses a comment over 65,536 characters; pulumi/actions keeps its own under 64,000 "to keep buffer for
# variable values" (src/libs/pr.ts, MAX_CHARACTER_COMMENT). Ours stays under 65,000, leaving room for a marker line.
COMMENT_LIMIT = 65_000


@dataclass(frozen=True)
class Section:
    """One collapsible <details> section: `lead` lines (a table's header) then whole `items` (each a list of lines:
    a table row, a code block). Cut to fit, it keeps its first items and says how many `unit` it left out."""

    title: str
    items: list[list[str]]
    lead: list[str] = field(default_factory=list)
    unit: str = "rows"
    table: bool = True  # a table needs a blank line after its last row before anything else


def section_lines(section: Section, items: list[list[str]], left_out: str = "") -> list[str]:
    """The section as markdown lines, with `items` (all of them, or the first ones that fit)."""
    body = [line for item in items for line in item]
    return [
        f"<details><summary>{section.title}</summary>",
        "",
        *section.lead,
        *body,
        *([""] if section.table else []),
        *([left_out, ""] if left_out else []),
        "</details>",
        "",
    ]


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _fit_section(section: Section, budget: int, where: str) -> tuple[list[str], str]:
    """The section with as many of its first items as `budget` characters hold (none fit: no lines at all), and
    what it left out ("" when nothing)."""
    total = len(section.items)
    whole = section_lines(section, section.items)
    if _size(whole) <= budget:
        return whole, ""
    note = f"*{total} of {total} {section.unit} left out here to fit a comment; the whole plan: {where}.*"
    room = budget - _size(section_lines(section, [], note))  # the longest note: its count has the most digits
    count = 0
    while count < total and _size(section.items[count]) <= room:
        room -= _size(section.items[count])
        count += 1
    if room < 0 or count == 0:
        return [], f"{section.title}: all {total} {section.unit}" if total > 1 else section.title
    left = total - count
    note = f"*{left} of {total} {section.unit} left out here to fit a comment; the whole plan: {where}.*"
    return section_lines(section, section.items[:count], note), f"{section.title}: {left} of {total} {section.unit}"


def _shares(sections: list[Section], budget: int) -> list[int]:
    """Characters for each section, shared fairly: the smallest get all they need, the rest split what is left
    equally, so one long section (every IAM statement of 25 teams) never crowds out a short one."""
    sizes = [_size(section_lines(s, s.items)) for s in sections]
    shares = [0] * len(sections)
    remaining = max(budget, 0)
    for rank, i in enumerate(sorted(range(len(sections)), key=lambda i: sizes[i])):
        shares[i] = min(sizes[i], remaining // (len(sections) - rank))
        remaining -= shares[i]
    return shares


def _assemble(head: list[str], body: list[str], sections: list[Section], where: str, budget: int) -> str:
    """One attempt at `budget` characters: the head whole, as much of the body as fits, then each section cut to
    what is left; the note on what was left out goes right after the head."""
    remaining = budget - _size(head)
    kept_body = []
    for line in body:
        if _size([line]) > remaining:
            break
        kept_body.append(line)
        remaining -= _size([line])
    omitted = [f"{len(body) - len(kept_body)} of {len(body)} summary lines"] if len(kept_body) < len(body) else []
    out_sections: list[str] = []
    for section, share in zip(sections, _shares(sections, remaining), strict=True):
        lines, left_out = _fit_section(section, share, where)
        out_sections += lines
        omitted += [left_out] if left_out else []
    note = (
        [
            f"> **Left out to fit a pull-request comment** (GitHub takes at most 65,536 characters): "
            f"{'; '.join(omitted)}. The whole plan: {where}.",
            "",
        ]
        if omitted
        else []
    )
    return "\n".join([*head, *note, *kept_body, *out_sections])


def fit(head: list[str], body: list[str], sections: list[Section], where: str, limit: int = COMMENT_LIMIT) -> str:
    """`head`, `body` and `sections` as one markdown text of at most `limit` characters. Nothing is cut when all
    fits; otherwise the sections lose their last items first, then the body its last lines; the head stays whole
    (callers keep it to a few lines)."""
    budget = limit
    while True:
        text = _assemble(head, body, sections, where, budget)
        if len(text) <= limit or budget <= 0:
            return text if len(text) <= limit else text[: limit - 1] + "\n"
        budget -= len(text) - limit
