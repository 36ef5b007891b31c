"""``report.html`` of an evaluation run: the summary as tables, reliability diagrams and group
rates as inline SVG (no plotting dependency; the file is self-contained and deterministic)."""

from __future__ import annotations

from html import escape

_W, _H, _PAD = 240, 240, 30


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return escape(str(value))


def _ci(ci) -> str:
    return "" if not ci or ci[0] is None else f" <small>[{ci[0]:.3f}, {ci[1]:.3f}]</small>"


def reliability_svg(reliability: dict) -> str:
    """Predicted probability (x) against observed positive rate (y), one dot per non-empty bin,
    its area proportional to the bin's rows; the diagonal is perfect calibration."""
    size = _W - 2 * _PAD
    counts = reliability["bin_count"]
    largest = max(counts) or 1
    parts = [f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img" aria-label="reliability diagram">',
             f'<rect x="{_PAD}" y="{_PAD}" width="{size}" height="{size}" fill="none" stroke="#999"/>',
             f'<line x1="{_PAD}" y1="{_PAD + size}" x2="{_PAD + size}" y2="{_PAD}" stroke="#bbb" stroke-dasharray="4"/>',
             f'<text x="{_W / 2}" y="{_H - 6}" text-anchor="middle" font-size="11">predicted probability</text>',
             f'<text x="10" y="{_H / 2}" font-size="11" transform="rotate(-90 10 {_H / 2})" text-anchor="middle">'
             'observed rate</text>']
    for x, y, n in zip(reliability["bin_mean_probability"], reliability["bin_positive_rate"], counts, strict=True):
        if not n or x is None or y is None:
            continue
        r = 2 + 8 * (n / largest) ** 0.5
        parts.append(f'<circle cx="{_PAD + x * size:.1f}" cy="{_PAD + (1 - y) * size:.1f}" r="{r:.1f}" '
                     f'fill="#3366cc" fill-opacity="0.7"><title>{n} rows</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def rates_svg(groups: dict, key: str) -> str:
    """A horizontal bar per group: its ``key`` rate, with the bootstrap interval as a line."""
    rows = [(name, row) for name, row in groups.items() if row.get(key) is not None]
    height, label_w, bar_w = 16, 140, 220
    parts = [f'<svg width="{label_w + bar_w + 60}" height="{height * len(rows) + 20}" role="img" '
             f'aria-label="{escape(key)} by group">']
    for i, (name, row) in enumerate(rows):
        y = 10 + i * height
        value = row[key]
        parts.append(f'<text x="{label_w - 4}" y="{y + 11}" text-anchor="end" font-size="11">{escape(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{value * bar_w:.1f}" height="{height - 5}" fill="#dd8844"/>')
        ci = (row.get("ci95") or {}).get(key)
        if ci and ci[0] is not None:
            parts.append(f'<line x1="{label_w + ci[0] * bar_w:.1f}" x2="{label_w + ci[1] * bar_w:.1f}" '
                         f'y1="{y + 8}" y2="{y + 8}" stroke="#333"/>')
        parts.append(f'<text x="{label_w + bar_w + 4}" y="{y + 11}" font-size="11">{value:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render(summary: dict) -> str:
    data, policy, bundle = summary["data"], summary["policy"], summary["model_bundle"]
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>safety eval report</title>",
           "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;"
           "margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
           "td:first-child,th:first-child{text-align:left}small{color:#666}</style></head><body>",
           "<h1>Evaluation report</h1>",
           f"<p>Data <code>{escape(data['path'])}</code> ({data['rows']} rows, sha256 <code>{data['sha256'][:16]}…</code>);"
           f" policy <b>{escape(policy['name'])}</b> {escape(policy['version'])};"
           f" model bundle <b>{escape(bundle['id'])}</b> <code>{bundle['sha256'][:16]}…</code>.</p>",
           f"<p>Moderated {summary['moderated']} of {summary['rows']} rows; errors: {_fmt(summary['errors'] or 'none')};"
           f" actions: {', '.join(f'{k} {v}' for k, v in summary['actions'].items())}.</p>",
           "<h2>Per category (at the policy's review threshold)</h2><table><tr><th>category</th><th>n</th>"
           "<th>positives</th><th>AUROC</th><th>AP</th><th>precision</th><th>recall</th><th>F1</th><th>FPR</th>"
           "<th>ECE</th><th>TP / FP / TN / FN</th></tr>"]
    for name, m in summary["categories"].items():
        c = m["confusion"]
        out.append(f"<tr><td>{escape(name)}</td><td>{m['n']}</td><td>{m['positives']}</td>"
                   f"<td>{_fmt(m['auroc'])}{_ci(m['ci95']['auroc'])}</td><td>{_fmt(m['average_precision'])}</td>"
                   f"<td>{_fmt(m['precision'])}</td><td>{_fmt(m['recall'])}{_ci(m['ci95']['recall'])}</td>"
                   f"<td>{_fmt(m['f1'])}{_ci(m['ci95']['f1'])}</td><td>{_fmt(m['fpr'])}</td><td>{_fmt(m['ece'])}</td>"
                   f"<td>{c['tp']} / {c['fp']} / {c['tn']} / {c['fn']}</td></tr>")
    out.append("</table><h2>Calibration</h2><p>Reliability diagrams: dots on the diagonal are calibrated.</p><div>")
    for name, m in summary["categories"].items():
        out.append(f"<figure style='display:inline-block'>{reliability_svg(m['reliability'])}"
                   f"<figcaption>{escape(name)}: ECE {_fmt(m['ece'])}</figcaption></figure>")
    out.append("</div><h2>Fairness across identity groups</h2>")
    if not summary["fairness"]:
        out.append("<p>The data names no groups.</p>")
    for name, f in summary["fairness"].items():
        out.append(f"<h3>{escape(name)}</h3><p>Demographic-parity difference {_fmt(f['demographic_parity_difference'])},"
                   f" equalized-odds difference {_fmt(f['equalized_odds_difference'])} (groups with at least"
                   f" {f['min_group_rows']} rows); final bias score {_fmt(f.get('final_bias_score'))}.</p>"
                   "<table><tr><th>group</th><th>n</th><th>positives</th><th>selection rate</th><th>FPR</th>"
                   "<th>FNR</th><th>subgroup AUC</th><th>BPSN AUC</th><th>BNSP AUC</th></tr>")
        aucs = f.get("bias_aucs", {})
        for group, row in {**f["groups"], **f["intersections"]}.items():
            a = aucs.get(group, {})
            out.append(f"<tr><td>{escape(group)}</td><td>{row['n']}</td><td>{row['positives']}</td>"
                       f"<td>{_fmt(row['selection_rate'])}{_ci(row['ci95']['selection_rate'])}</td>"
                       f"<td>{_fmt(row['fpr'])}{_ci(row['ci95']['fpr'])}</td><td>{_fmt(row['fnr'])}{_ci(row['ci95']['fnr'])}</td>"
                       f"<td>{_fmt(a.get('subgroup_auc'))}</td><td>{_fmt(a.get('bpsn_auc'))}</td><td>{_fmt(a.get('bnsp_auc'))}</td></tr>")
        out.append(f"</table><p>False-positive rate by group:</p>{rates_svg(f['groups'], 'fpr')}")
    out.append("</body></html>\n")
    return "".join(out)
