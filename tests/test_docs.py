"""The README's table of contents, and the README/CHANGELOG split.

The README describes what the code does now; what changed for results made by an earlier
checkout is in CHANGELOG.md, each entry naming the README section of today's behaviour.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def github_anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation but ``-`` and ``_`` dropped, spaces to ``-``."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def headings(text: str) -> list[tuple[int, str]]:
    """``(level, title)`` of the ``##`` and ``###`` headings outside code blocks."""
    out, code = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            code = not code
        elif not code and (m := re.match(r"^(#{2,3}) (.+)$", line)):
            out.append((len(m.group(1)), m.group(2)))
    return out


def toc_entries(text: str) -> list[tuple[int, str, str]]:
    """``(level, text, anchor)`` of the list under ``**Contents**``."""
    block = text.split("**Contents**", 1)[1].split("\n## ", 1)[0]
    return [(2 if not m.group(1) else 3, m.group(2), m.group(3))
            for m in re.finditer(r"^( {2})?- \[(.+)\]\(#([^)]+)\)$", block, re.MULTILINE)]  # fmt: skip


def test_github_anchor_on_known_headings():
    assert github_anchor("Codec features (`results/features/<codec>/words.h5`)") == "codec-features-resultsfeaturescodecwordsh5"
    assert github_anchor("Speech-text alignment (Sec. 2.5, 3.3)") == "speech-text-alignment-sec-25-33"
    assert github_anchor("Where codecprobe departs from the seed paper's release, and why") == (
        "where-codecprobe-departs-from-the-seed-papers-release-and-why"
    )


def test_readme_contents_list_every_section_in_order():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    want = [(level, title, github_anchor(title)) for level, title in headings(text)]
    assert toc_entries(text) == want
    assert len({a for _, _, a in want}) == len(want), "two headings with one anchor: GitHub would number the second"


def test_readme_carries_no_development_history():
    """'since session 24; before, ...' belongs in CHANGELOG.md. The Benchmarks section is a
    record of measurements, whose rows say when and against what they were made."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    head, rest = text.split("\n## Benchmarks\n", 1)
    text = head + "\n## " + rest.split("\n## ", 1)[1]
    found = re.findall(r"[^.\n]*\b(?:since|before|until|after updating to) session \d+[^.\n]*", text)
    assert [f for f in found if "before session 8 is refused" not in f] == []


def test_changelog_entries_name_readme_sections():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    titles = [t for _, t in headings(readme)]
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    labels = set(re.findall(r"^- \*([^*]+)\*", text, re.MULTILINE))
    assert labels, "no entries found"
    unknown = sorted(lb for lb in labels - {"Updating an existing run", "README"} if not any(t.startswith(lb) for t in titles))
    assert unknown == []
    sessions = [int(n) for n in re.findall(r"^## Session (\d+)$", text, re.MULTILINE)]
    assert sessions == sorted(sessions, reverse=True) and len(set(sessions)) == len(sessions)
