"""Command line: ``safety moderate``, ``safety serve``, ``safety prepare``, ``safety eval`` (run /
compare / gate), ``safety train``.

Exit status: 0 when moderation ran (whatever the verdict; read ``action``), 2 for bad input, an
unknown or invalid policy, or bad usage, 3 when ``safety eval gate`` finds a gate missed, 1 for
any other failure (``safety prepare``: a detector that did not load).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safety.errors import InputError, InvalidPolicyError, SafetyError, UnknownPolicyError


def _cmd_moderate(args: argparse.Namespace) -> int:
    from safety import moderate

    text = sys.stdin.read() if args.text == "-" else args.text
    result = moderate(text=text, image=args.image, policy=args.policy)
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    print(f"action: {result.action.value}   flagged: {str(result.flagged).lower()}   policy: {result.policy.name}")
    for name, outcome in result.categories.items():
        if outcome.probability is not None:
            mark = "*" if outcome.flagged else " "
            print(f" {mark} {name.value:<16} {outcome.probability:.3f}  (review >= {outcome.threshold:.2f},"
                  f" block >= {outcome.block_threshold:.2f})")
    for reason in result.reasons:
        print(f"  - {reason.message}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from safety.server import create_app
    from safety.settings import Settings

    overrides = {"host": args.host, "port": args.port, "default_policy": args.policy}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=args.log_level)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    import json

    from safety.evaluation.dataset import load_rows
    from safety.evaluation.harness import evaluate
    from safety.pipeline import Moderator
    from safety.policy import get_policy

    rows = load_rows(args.data, split=args.split)
    policy = get_policy(args.policy or "default")
    moderator = Moderator(bundle=args.bundle, default_policy=policy)
    summary = evaluate(args.data, args.report, moderator=moderator, policy=policy, rows=rows,
                       batch_size=args.batch_size, progress=not args.quiet)
    brief = {name: {k: m[k] for k in ("n", "auroc", "precision", "recall", "f1", "ece")}
             for name, m in summary["categories"].items()}
    print(json.dumps({"report": str(args.report), "rows": summary["rows"], "errors": summary["errors"],
                      "categories": brief}, indent=2))
    return 0


def _cmd_eval_compare(args: argparse.Namespace) -> int:
    from safety.evaluation.compare import compare_runs, to_json

    text = to_json(compare_runs(args.a, args.b, n_boot=args.n_boot))
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


def _cmd_eval_gate(args: argparse.Namespace) -> int:
    from safety.evaluation.gates import check, format_results, load_gates, load_summary

    suites = load_gates(args.gates)
    if args.suite not in suites:
        raise InputError(f"no suite {args.suite!r} in {args.gates}; known: {', '.join(suites)}")
    suite = suites[args.suite]
    if not suite.gates:
        raise InputError(f"suite {args.suite!r} in {args.gates} has no gates: nothing would be checked")
    results = check(load_summary(args.report), suite)
    print(format_results(results))
    failed = sum(not r.passed for r in results)
    print(f"{args.suite}: {len(results) - failed} of {len(results)} gates passed")
    return 0 if not failed else 3


def _cmd_train(args: argparse.Namespace) -> int:
    from safety.training import train_text

    recipes = {"text": train_text.main}
    return recipes[args.recipe](args.recipe_args)


def _cmd_prepare(args: argparse.Namespace) -> int:
    """Load every detector of a bundle once: checks the artifacts and exports the ONNX Runtime
    graphs into the cache (``safety/detectors/ort.py``), so that a later ``safety serve`` starts
    from cached graphs (deployments run it at build time)."""
    import time

    from safety.detectors import ort
    from safety.pipeline import Moderator
    from safety.settings import Settings

    bundle = args.bundle or Settings().bundle
    started = time.perf_counter()
    moderator = Moderator(bundle=bundle)
    errors = moderator.warm_up()
    ort.wait_for_cache_writes()
    for channel, error in errors.items():
        print(f"{channel.value:<12} {'ok' if error is None else 'FAILED: ' + error}")
    print(f"bundle {bundle}: {time.perf_counter() - started:.1f} s; graphs in {ort.cache_dir()}")
    return 1 if any(errors.values()) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="safety", description="Self-hosted multimodal harmful-content moderation.")
    commands = parser.add_subparsers(dest="command", required=True)

    mod = commands.add_parser("moderate", help="moderate a text and/or an image")
    mod.add_argument("--text", help="text to moderate ('-' reads standard input)")
    mod.add_argument("--image", type=Path, help="path of an image to moderate")
    mod.add_argument("--policy", help="policy name or path of a policy .toml (default: 'default')")
    mod.add_argument("--json", action="store_true", help="print the full result as JSON")
    mod.set_defaults(run=_cmd_moderate)

    serve = commands.add_parser("serve", help="run the REST service")
    serve.add_argument("--host", help="bind address (default 127.0.0.1, or $SAFETY_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000, or $SAFETY_PORT)")
    serve.add_argument("--policy", help="default policy for requests that name none")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(run=_cmd_serve)

    prepare = commands.add_parser("prepare", help="load a bundle once: check its artifacts, export and cache its ONNX graphs")
    prepare.add_argument("--bundle", help="model bundle (default: $SAFETY_BUNDLE or offline-default)")
    prepare.set_defaults(run=_cmd_prepare)

    evaluation = commands.add_parser(
        "eval", help="evaluate verdicts on labelled data (also: 'eval compare A B', 'eval gate')",
        description="safety eval --data FILE --report DIR | safety eval compare A B | safety eval gate ...")
    steps = evaluation.add_subparsers(dest="step", required=True)
    run = steps.add_parser("run", help="(default) moderate labelled rows and write a report folder")
    run.add_argument("--data", type=Path, required=True, help="JSONL, CSV or Parquet rows (see safety/evaluation/dataset.py)")
    run.add_argument("--report", type=Path, required=True, help="folder for summary.json, predictions.jsonl, report.html")
    run.add_argument("--policy", help="policy name or .toml path (default: 'default')")
    run.add_argument("--bundle", default="offline-default-scores",
                     help="model bundle (default: offline-default-scores, the default's scores without explanations)")
    run.add_argument("--batch-size", type=int, default=32)
    run.add_argument("--split", help="only rows whose 'split' field has this value (e.g. eval)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(run=_cmd_eval)
    compare = steps.add_parser("compare", help="A/B: metric deltas with paired-bootstrap intervals, McNemar on flips")
    compare.add_argument("a", type=Path, help="report folder of version A")
    compare.add_argument("b", type=Path, help="report folder of version B")
    compare.add_argument("--out", type=Path, help="also write the comparison JSON here")
    compare.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples per metric (default 1000)")
    compare.set_defaults(run=_cmd_eval_compare)
    gate = steps.add_parser("gate", help="check a report against eval/gates.toml (exit 3 when a gate fails)")
    gate.add_argument("--gates", type=Path, default=Path("eval/gates.toml"))
    gate.add_argument("--suite", required=True)
    gate.add_argument("--report", type=Path, required=True)
    gate.set_defaults(run=_cmd_eval_gate)

    train = commands.add_parser("train", help="run a training recipe (reads ../shared/data by default)")
    train.add_argument("recipe", choices=["text"], help="text: the MiniLM text classifier (models/minilm_toxicity)")
    train.add_argument("recipe_args", nargs=argparse.REMAINDER, help="options of the recipe (see --help of the recipe)")
    train.set_defaults(run=_cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["eval"] and (len(argv) == 1 or argv[1] not in {"run", "compare", "gate", "-h", "--help"}):
        argv.insert(1, "run")  # 'safety eval --data ...' is 'safety eval run --data ...'
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (InputError, UnknownPolicyError, InvalidPolicyError) as exc:
        print(f"safety: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except SafetyError as exc:
        print(f"safety: {exc.code}: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
