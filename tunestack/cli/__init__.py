"""Command line: `tunestack <command> --help` explains each command (`python -m tunestack` works too).

main.py maps errors to exit codes; parser.py holds the options every command shares; stacks.py
gives --stack and --stack-file one meaning; each other module is one command: its parser, its help
and a `run(args)` that parses, calls the domain and prints."""
from .main import build_parser, main
from .parser import EXIT_BAD_INPUT, EXIT_CODES, EXIT_ENVIRONMENT

__all__ = ["EXIT_BAD_INPUT", "EXIT_CODES", "EXIT_ENVIRONMENT", "build_parser", "main"]
