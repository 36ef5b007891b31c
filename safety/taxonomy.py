"""The canonical taxonomy: the fixed set of names every detector, policy and result uses.

Detectors never invent category names: each maps its own labels onto these through an explicit
table (see ``label_map`` in a model's ``config.json``). Policies may only name these categories.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    """A harm category. The value is the stable wire name."""

    TOXICITY = "toxicity"
    SEVERE_TOXICITY = "severe_toxicity"
    INSULT = "insult"
    THREAT = "threat"
    IDENTITY_ATTACK = "identity_attack"
    OBSCENE = "obscene"
    SEXUAL = "sexual"
    WEAPONS = "weapons"


class Modality(StrEnum):
    TEXT = "text"
    IMAGE = "image"


class Channel(StrEnum):
    """A detector channel: one kind of evidence in a verdict."""

    TEXT = "text"
    IMAGE = "image"
    CROSS_MODAL = "cross_modal"


class Action(StrEnum):
    """What to do with the content, in increasing severity."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @classmethod
    def most_severe(cls, actions: "list[Action] | tuple[Action, ...]") -> "Action":
        return max(actions, key=lambda a: a.severity, default=cls.ALLOW)


_SEVERITY = {Action.ALLOW: 0, Action.REVIEW: 1, Action.BLOCK: 2}


@dataclass(frozen=True, slots=True)
class CategorySpec:
    category: Category
    modality: Modality
    description: str


#: The documented meaning of each category. The README's taxonomy table is generated from this.
CATEGORY_SPECS: dict[Category, CategorySpec] = {
    spec.category: spec
    for spec in (
        CategorySpec(
            Category.TOXICITY,
            Modality.TEXT,
            "Rude, disrespectful or unreasonable language likely to make someone leave a discussion.",
        ),
        CategorySpec(
            Category.SEVERE_TOXICITY,
            Modality.TEXT,
            "Very hateful, aggressive or disrespectful language; a stricter subset of toxicity.",
        ),
        CategorySpec(
            Category.INSULT,
            Modality.TEXT,
            "Insulting, inflammatory or negative language aimed at a person or group of people.",
        ),
        CategorySpec(
            Category.THREAT,
            Modality.TEXT,
            "An intention to inflict pain, injury or violence against a person or group.",
        ),
        CategorySpec(
            Category.IDENTITY_ATTACK,
            Modality.TEXT,
            "Hate: negative or hateful language aimed at people because of a protected identity "
            "(race, ethnicity, religion, gender, sexual orientation, disability, ...).",
        ),
        CategorySpec(
            Category.OBSCENE,
            Modality.TEXT,
            "Swear words, curse words and other obscene or profane language.",
        ),
        CategorySpec(
            Category.SEXUAL,
            Modality.IMAGE,
            "Sexually explicit or pornographic imagery, nudity.",
        ),
        CategorySpec(
            Category.WEAPONS,
            Modality.IMAGE,
            "Firearms, knives and other weapons shown in an image.",
        ),
    )
}

assert set(CATEGORY_SPECS) == set(Category), "every category needs a spec"

TEXT_CATEGORIES: tuple[Category, ...] = tuple(
    c for c, s in CATEGORY_SPECS.items() if s.modality is Modality.TEXT
)
IMAGE_CATEGORIES: tuple[Category, ...] = tuple(
    c for c, s in CATEGORY_SPECS.items() if s.modality is Modality.IMAGE
)


def parse_category(name: str) -> Category:
    """Return the category called ``name``; raise ``ValueError`` naming the valid ones otherwise."""
    try:
        return Category(name)
    except ValueError:
        valid = ", ".join(c.value for c in Category)
        raise ValueError(f"unknown category {name!r}; valid categories: {valid}") from None
