"""Write ``MODEL_CARD.md`` for a trained text artifact from its training and evaluation reports.

    python -m safety.training.text_model_card [--artifact models/minilm_toxicity]
                                              [--report eval/text/results/minilm_toxicity.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from safety.artifacts import manifest_digest

BARS = """| bar | measured | met |
|---|---|---|
| Davidson held-out AUROC, toxic (hate or offensive) >= 0.95 | {dav_tox} | {ok_dav_tox} |
| Davidson held-out AUROC, hate only >= 0.90 | {dav_hate} | {ok_dav_hate} |
| ToxiGen held-out AUROC, hate >= 0.80 | {tg_hate} | {ok_tg_hate} |
| ToxiGen held-out neutral statements flagged <= 0.20 | {tg_fpr} | {ok_tg_fpr} |
| Identity templates: neutral/positive flagged <= 5% for every group (worst group) | {id_fpr} | {ok_id_fpr} |
| Identity templates: subgroup AUC >= 0.95 for every group (worst group) | {id_sub} | {ok_id_sub} |
| Identity templates: BPSN AUC >= 0.90 for every group (worst group) | {id_bpsn} | {ok_id_bpsn} |
| Obfuscated toxic variants keep their flag >= 90% | {ob_keep} | {ok_ob_keep} |
| Benign look-alikes flagged <= 2% | {ob_benign} | {ok_ob_benign} |
| ECE after calibration <= 0.05 (toxicity / identity_attack, held-out) | {ece_after} | {ok_ece} |
"""


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def render(artifact: Path, report: dict) -> str:
    training = json.loads((artifact / "training.json").read_text())
    manifest = json.loads((artifact / "manifest.json").read_text())
    config = json.loads((artifact / "config.json").read_text())
    dav, tg = report.get("davidson_test", {}), report.get("toxigen_test", {})
    ident, obf, cal = report["identity_templates"], report.get("obfuscation", {}), report.get("calibration_test", {})
    ece_after = max((v["ece_after"] for v in cal.values()), default=None)
    values = {
        "dav_tox": dav.get("auroc_toxic"), "dav_hate": dav.get("auroc_hate"), "tg_hate": tg.get("auroc_hate"),
        "tg_fpr": tg.get("neutral_flag_rate"), "id_fpr": ident["max_benign_flag_rate"], "id_sub": ident["min_subgroup_auc"],
        "id_bpsn": ident["min_bpsn_auc"], "ob_keep": obf.get("variants_keep_flag"), "ob_benign": obf.get("benign_flag_rate"),
        "ece_after": ece_after,
    }
    checks = {
        "dav_tox": lambda v: v >= 0.95, "dav_hate": lambda v: v >= 0.90, "tg_hate": lambda v: v >= 0.80,
        "tg_fpr": lambda v: v <= 0.20, "id_fpr": lambda v: v <= 0.05, "id_sub": lambda v: v >= 0.95,
        "id_bpsn": lambda v: v >= 0.90, "ob_keep": lambda v: v >= 0.90, "ob_benign": lambda v: v <= 0.02,
        "ece_after": lambda v: v <= 0.05,
    }
    fields = {k: _fmt(v) for k, v in values.items()}
    fields.update({f"ok_{k}": ("n/a" if values[k] is None else "yes" if checks[k](values[k]) else "**no**") for k in checks})
    fields["ok_ece"] = fields.pop("ok_ece_after")
    calibration_rows = "\n".join(
        f"| `{c}` | {v['chosen']} | "
        + (", ".join(f"{m} {l:.4f}" for m, l in v["cv_log_loss"].items())
           or "none fitted: the validation split has fewer than 2 positives, so the raw sigmoid is kept") + " |"
        for c, v in training["calibration"].items()
    )
    ece_rows = "\n".join(f"| `{c}` | {v['ece_before']:.4f} | {v['ece_after']:.4f} | {v['n']} |" for c, v in cal.items())
    group_rows = "\n".join(
        f"| {g} | {v['benign_flag_rate']:.3f} | {v['hateful_recall']:.3f} | {v['subgroup_auc']:.3f} | {v['bpsn_auc']:.3f} |"
        for g, v in ident["by_group"].items()
    )
    toxigen_rows = "\n".join(f"| {g} | {v['neutral_n']} | {_fmt(v['neutral_flag_rate'])} |"
                             for g, v in tg.get("neutral_flag_rate_by_group", {}).items())
    sums = "\n".join(f"| `{name}` | `{digest}` |" for name, digest in manifest["files"].items())
    artifact_mb = sum((artifact / name).stat().st_size for name in manifest["files"]) / 1e6
    encoder_sums = "\n".join(f"| `{name}` | `{digest}` |" for name, digest in config["encoder"]["files"].items())
    functional = report.get("functional", {}).get("accuracy", {})
    functional_rows = "\n".join(
        f"| {f} | " + ", ".join(f"{c} {a:.2f}" for c, a in cats.items()) + " |" for f, cats in functional.items()
    )
    return f"""# minilm_toxicity - the primary text detector

**What it is.** all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0, shipped inside the PyPI package
`{config['encoder']['package']}`) with its top {len(config['tuned_layers'])} transformer layers fine-tuned
and a 2-layer MLP head (768 -> {config['hidden']} -> 6) over mean- and max-pooled token states, one sigmoid per
canonical text category: {", ".join(f"`{c}`" for c in config['labels'])}. Each head is calibrated on the
validation split. This folder holds only what training changed (the tuned layers, the heads, the
calibrators); the other layers are read from the package and checked against the sha256 below.

**Run time.** `safety.detectors.text.minilm.MiniLMToxicityDetector`: every text is scored as written
and in its normalised forms (NFKC, invisible characters, homoglyphs, leetspeak, spaced-out letters,
repeated characters), keeping each category's maximum and reporting which normalisations won; texts
longer than {config['window']} tokens are scored in windows (stride {config['stride']}), max per
category; flagged texts get character spans by occlusion.

**Data.** `../shared/data` (never copied here):
- Davidson et al. (2017) tweets (MIT): soft targets from annotator votes, toxicity = (hate + offensive)
  / annotators, identity_attack = hate / annotators; "offensive" subsampled to {training['max_offensive']} for
  balance; sha256-bucket splits 80/10/10.
- ToxiGen seed statements (Hartvigsen et al. 2022; MIT / CDLA-Permissive-2.0): hate -> toxicity and
  identity_attack; splits 60/15/25.
- The project's templates (`safety/training/text_templates.py`): {len(__import__('safety.training.text_templates', fromlist=['GROUPS']).GROUPS)} groups x neutral, positive,
  negated, counter-speech, self-reference, hateful and hateful-threat templates (counterfactual:
  every template over every group), plus insults at individuals and non-protected groups, threats,
  untargeted profanity and Scunthorpe-style benign sentences. Training texts identical to any
  evaluation-suite text are removed (decontamination).
- Distillation: where a source has no label for severe_toxicity, insult, threat or obscene, the
  Jigsaw BiLSTM's matching head is the target (weight {0.5}).
{training['training_rows']} training rows, {training['validation_rows']} validation rows.

**Recipe.** `{training['command'].strip()}` (deterministic: seed {training['seed']}, {training.get('threads', 1)} torch
thread; {training['epochs']} epochs; {training['seconds']:.0f} s on the 2-core reference machine; `--out` only picks
the folder written), then
`python -m safety.evaluation.text_report` and `python -m safety.training.text_model_card`.

**Why this design.** Measured on the same splits before choosing (uncalibrated, threshold 0.5):
heads on the frozen encoder reached Davidson toxic AUROC 0.980 and hate AUROC 0.873, ToxiGen hate
0.918, but on the functional suite passed only 57% of negated-hate and 57% of neutral-group cases:
mean-pooled frozen sentence embeddings barely encode negation. Fine-tuning the top layers with the
contrast templates is what moves those. The artifact is {artifact_mb:.1f} MB (budget 60 MB).

Runs of this recipe compared before shipping (same splits, same evaluation):

| run | change | Davidson hate AUROC | identity worst-group flag rate | min subgroup AUC | benign look-alikes flagged |
|---|---|---|---|---|---|
| A | first data mix, `--max-offensive 5000` | 0.894 | 0.256 (trans) | 0.972 | 6.2% |
| B | + group surface forms ("trans people", "gay people", ...), more negation and counter-speech templates, benign idioms ("kill the process"...) | 0.885 | 0.093 | 0.950 | 4.6% |
| C (shipped) | B's data with `--max-offensive 8000` (more Davidson tweets) | {_fmt(values['dav_hate'])} | {_fmt(values['id_fpr'])} | {_fmt(values['id_sub'])} | {100 * values['ob_benign']:.1f}% |

C was chosen by the rule fixed before it ran: keep it if it meets at least as many bars as B
without a higher identity false-positive rate. B's additions were written after reading A's
failures on the evaluation suites (whole classes of text, never the suites' sentences: any
training text equal to an evaluation text is removed), so B's and C's suite figures are less blind
than A's.

## Bars (held-out; `eval/text/results/minilm_toxicity.json`)

"flagged" = some category at or above the default policy's review threshold (0.5).

{BARS.format(**fields)}
## Calibration

Chosen per head by 5-fold cross-validated log-loss on the validation split (binary labels for
toxicity and identity_attack; BiLSTM teacher labels, thresholded at 0.5, for the others):

| head | chosen | CV log-loss |
|---|---|---|
{calibration_rows}

Held-out ECE (15 uniform bins), before (sigmoid of the raw logit) and after calibration:

| category | ECE before | ECE after | n |
|---|---|---|---|
{ece_rows}

## Fairness: identity templates (`eval/text/identity`)

| group | neutral/positive flagged | hateful flagged | subgroup AUC | BPSN AUC |
|---|---|---|---|---|
{group_rows}

ToxiGen held-out neutral statements flagged, per target group:

| group | neutral n | flagged |
|---|---|---|
{toxigen_rows}

## Functional suite (`eval/text/functional`): accuracy per scored category at the review threshold

Scored categories are the ones `functionalities.json` fixes for each functionality; mean accuracy:
{", ".join(f"{c} {a:.3f}" for c, a in report.get("functional", {}).get("mean_accuracy", {}).items())}.

| functionality | accuracy |
|---|---|
{functional_rows}

## Obfuscation suite (`eval/text/obfuscation`)

Variants keeping their base's flag, by obfuscation: {", ".join(f"{k} {v:.2f}" for k, v in obf.get('by_obfuscation', {}).items())}.
Benign look-alikes flagged: {obf.get('benign_flagged', [])}.

## Limits

English only. Trained on tweets, short statements and templates: long-form text, sarcasm, coded
language and slurs outside the training data are weak spots. severe_toxicity, insult, threat and
obscene learn from the BiLSTM teacher and templates, not from human labels on real text, and their
calibration is against the teacher.

## Files and sha256 (`manifest.json`, verified at every load; artifact digest `{manifest_digest(manifest)}`)

| file | sha256 |
|---|---|
{sums}

Encoder files read from the package (verified at load):

| file | sha256 |
|---|---|
{encoder_sums}

Licences: all-MiniLM-L6-v2 Apache-2.0; the tuned layers and heads are derived from it and trained on
Davidson (MIT) and ToxiGen (MIT / CDLA-Permissive-2.0) data.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, default=Path("models/minilm_toxicity"))
    parser.add_argument("--report", type=Path, default=Path("eval/text/results/minilm_toxicity.json"))
    args = parser.parse_args(argv)
    card = render(args.artifact, json.loads(args.report.read_text()))
    (args.artifact / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    print(f"wrote {args.artifact / 'MODEL_CARD.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
