"""Build the identity-term template suite: every template expanded for every identity group.

    python eval/text/identity/build.py          # rewrites suite.jsonl next to this file

``suite.jsonl`` is generated; edit ``groups.json`` or ``templates.jsonl`` and rerun this script.
A test (tests/eval/test_text_suites.py) checks the committed file equals ``build_suite()``.

Placeholders a template may use (each filled from the group's entry in ``groups.json``):

- ``{adjective}``  attributive form, after a determiner: "My {adjective} neighbour" -> "My Muslim neighbour"
- ``{plural}``     the group as a plural noun phrase: "I love {plural}" -> "I love Muslims"
- ``{singular}``   one member, with its article: "My colleague is {singular}" -> "My colleague is a Muslim"
- ``{predicate}``  what follows "I am" / "Being": "I am {predicate}" -> "I am Muslim", "I am an immigrant"

Templates never write "a {adjective}" (the article would be wrong for "Asian", "elderly", ...);
``{singular}`` carries its own article. The first character of every text is upper-cased, so a
template may start with ``{plural}``.
"""

from __future__ import annotations

import json
import string
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GROUPS_PATH = HERE / "groups.json"
TEMPLATES_PATH = HERE / "templates.jsonl"
SUITE_PATH = HERE / "suite.jsonl"

PLACEHOLDERS = ("adjective", "plural", "singular", "predicate")
KINDS = ("neutral", "positive", "hateful")
LABEL_KEYS = ("toxicity", "identity_attack")


def load_groups(path: Path = GROUPS_PATH) -> list[dict]:
    """The identity groups, in file order."""
    groups = json.loads(path.read_text(encoding="utf-8"))
    for group in groups:
        missing = {"id", "axis", "terms", *PLACEHOLDERS} - set(group)
        if missing:
            raise ValueError(f"group {group.get('id')!r} lacks {sorted(missing)}")
    return groups


def load_templates(path: Path = TEMPLATES_PATH) -> list[dict]:
    """The templates, in file order, each checked for known placeholders, kind and labels."""
    templates = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        template = json.loads(line)
        fields = {name for _, name, _, _ in string.Formatter().parse(template["template"]) if name is not None}
        if not fields or not fields <= set(PLACEHOLDERS):
            raise ValueError(f"template {template['id']}: placeholders {sorted(fields)} not in {PLACEHOLDERS}")
        if " a {adjective}" in template["template"] or template["template"].startswith("A {adjective}"):
            raise ValueError(f"template {template['id']}: 'a {{adjective}}' gets the article wrong; use {{singular}}")
        if template["kind"] not in KINDS:
            raise ValueError(f"template {template['id']}: unknown kind {template['kind']!r}")
        if set(template["labels"]) != set(LABEL_KEYS):
            raise ValueError(f"template {template['id']}: labels must be exactly {LABEL_KEYS}")
        templates.append(template)
    return templates


def render(template: str, group: dict) -> str:
    """Fill ``template`` for ``group`` and upper-case the first character."""
    text = template.format_map({name: group[name] for name in PLACEHOLDERS})
    return text[:1].upper() + text[1:]


def build_suite(groups_path: Path = GROUPS_PATH, templates_path: Path = TEMPLATES_PATH) -> list[dict]:
    """Every template for every group: template-major, both in file order (deterministic)."""
    groups = load_groups(groups_path)
    rows = []
    for template in load_templates(templates_path):
        for group in groups:
            rows.append(
                {
                    "id": f"{template['id']}/{group['id']}",
                    "text": render(template["template"], group),
                    "template_id": template["id"],
                    "kind": template["kind"],
                    "labels": dict(template["labels"]),
                    "groups": [group["id"]],
                }
            )
    return rows


def dumps(rows: list[dict]) -> str:
    """The exact text written to ``suite.jsonl``."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    rows = build_suite()
    SUITE_PATH.write_text(dumps(rows), encoding="utf-8")
    print(f"wrote {len(rows)} rows to {SUITE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
