"""User-facing errors.

Every problem a user can fix (bad input file, unknown model, missing data) is raised as
:class:`MathsynthError` with a message that names the file, line and field. The CLI prints the
message alone, so users never see a traceback from deep inside a library.
"""

from __future__ import annotations

# Exit codes of the CLI: 0 all done; 2 bad input (nothing or little was done); 3 the run finished
# but some records failed for a transient reason or a budget stop cut it short: rerun to finish.
EXIT_BAD_INPUT = 2
EXIT_INCOMPLETE = 3


class MathsynthError(Exception):
    """An error the user can act on; its message is shown as-is by the CLI (exit code ``exit_code``).

    >>> str(MathsynthError("data.jsonl:3: field 'answer' is missing"))
    "data.jsonl:3: field 'answer' is missing"
    """

    exit_code = EXIT_BAD_INPUT


class IncompleteRun(MathsynthError):
    """A stage wrote what it could, but some records failed (server down, timeouts): the same
    command redoes just those.

    >>> IncompleteRun("2 problems failed").exit_code
    3
    """

    exit_code = EXIT_INCOMPLETE


class InputError(MathsynthError):
    """Bad input data: carries the file, 1-based line number and field where known.

    >>> str(InputError("bad JSON", path="x.jsonl", line=2))
    'x.jsonl:2: bad JSON'
    >>> str(InputError("is missing", path="x.jsonl", line=5, field="question"))
    "x.jsonl:5: field 'question' is missing"
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.path, self.line, self.field, self.reason = path, line, field, message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        what = f"field '{field}' {message}" if field is not None else message
        super().__init__(where + what)
