"""`ballast completion bash|zsh`: a shell completion script written from the command's own parser (shtab)."""
from __future__ import annotations

SHELLS = ("bash", "zsh")


def run_completion(args) -> str:
    import shtab

    return shtab.complete(args.parser, shell=args.shell)


def add_commands(commands) -> None:
    completion = commands.add_parser("completion", help="print a bash or zsh completion script",
                                     epilog="examples:\n  source <(ballast completion bash)\n"
                                            "  ballast completion zsh > \"${fpath[1]}/_ballast\"")
    completion.add_argument("shell", choices=SHELLS)
    completion.set_defaults(run=None, start=run_completion)
