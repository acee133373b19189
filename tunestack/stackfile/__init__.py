"""Stage 1: a stack file → a validated, typed `StackSpec`, or every problem at once."""
from .load import load, load_document, stack_names, stack_path
from .spec import StackSpec

__all__ = ["load", "load_document", "stack_names", "stack_path", "StackSpec"]
