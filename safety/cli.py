"""Command line: ``safety moderate ...`` and ``safety serve ...``.

Exit status: 0 when moderation ran (whatever the verdict; read ``action``), 2 for bad input, an
unknown or invalid policy, or bad usage, 1 for any other failure.
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


def _cmd_train(args: argparse.Namespace) -> int:
    from safety.training import train_text

    recipes = {"text": train_text.main}
    return recipes[args.recipe](args.recipe_args)


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

    train = commands.add_parser("train", help="run a training recipe (reads ../shared/data by default)")
    train.add_argument("recipe", choices=["text"], help="text: the MiniLM text classifier (models/minilm_toxicity)")
    train.add_argument("recipe_args", nargs=argparse.REMAINDER, help="options of the recipe (see --help of the recipe)")
    train.set_defaults(run=_cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
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
