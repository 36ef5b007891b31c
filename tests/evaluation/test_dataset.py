"""Evaluation rows: formats, label shorthands and every validation error."""

from __future__ import annotations

import json

import pytest

from safety.errors import InputError
from safety.evaluation.dataset import load_rows
from safety.taxonomy import Category


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_rows_with_labels_label_and_groups(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [
        {"id": "a", "text": "hi", "labels": {"insult": 1, "threat": 0}, "groups": ["women"]},
        {"text": "x", "label": "weapons"},
        {"id": "c", "image": "photo.png", "label": "benign"},
    ])
    a, b, c = load_rows(path)
    assert a.labels == {Category.INSULT: 1, Category.THREAT: 0} and a.groups == ("women",)
    assert b.id == "2" and b.labels[Category.WEAPONS] == 1 and sum(b.labels.values()) == 1
    assert len(b.labels) == len(Category)
    assert c.image == tmp_path / "photo.png" and set(c.labels.values()) == {0} and c.text is None


def test_csv_rows(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id,text,labels,groups\nr1,hello,"{""toxicity"": 1}",muslim;women\nr2,bye,"{""toxicity"": 0}",\n',
                    encoding="utf-8")
    r1, r2 = load_rows(path)
    assert r1.labels == {Category.TOXICITY: 1} and r1.groups == ("muslim", "women") and r2.groups == ()


@pytest.mark.parametrize(("row", "message"), [
    ({"id": "x", "labels": {"toxicity": 1}}, "needs a text or an image"),
    ({"text": "t", "labels": {"rudeness": 1}}, "unknown category 'rudeness'"),
    ({"text": "t", "labels": {"toxicity": 2}}, "must be 0 or 1"),
    ({"text": "t", "label": "spicy"}, "neither a category nor 'benign'"),
    ({"text": "t"}, "needs labels"),
    ({"text": "t", "label": "benign", "groups": "women"}, "groups must be a list"),
])
def test_invalid_rows_say_which_row_and_why(tmp_path, row, message):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "fine", "label": "benign"}, row])
    with pytest.raises(InputError, match=f"row 2: .*{message}"):
        load_rows(path)


def test_file_level_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_rows(tmp_path / "missing.jsonl")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(InputError, match=".jsonl, .csv or .parquet"):
        load_rows(tmp_path / "d.txt")
    dup = write_jsonl(tmp_path / "dup.jsonl", [{"id": "a", "text": "x", "label": "benign"}] * 2)
    with pytest.raises(InputError, match="appears twice"):
        load_rows(dup)
    (tmp_path / "bad.jsonl").write_text('{"text": "x", "label": "benign"}\n{oops\n')
    with pytest.raises(InputError, match="bad.jsonl:2: not JSON"):
        load_rows(tmp_path / "bad.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="no rows"):
        load_rows(tmp_path / "empty.jsonl")
