"""BN000: a file bnlint must analyse cannot be read, decoded or parsed."""

from __future__ import annotations

from typing import Iterable

from bnlint.context import FileContext
from bnlint.rule import Report, Rule


class ParseError(Rule):
    """File cannot be read, decoded or parsed.

    ## What it does
    Reports a file that mentions batch-norm or training APIs but cannot be
    read, decoded (bad bytes for its declared encoding) or parsed as Python 3
    (a syntax error, Python 2 code, a NUL byte). The engine produces this
    finding itself; the other files are still linted.

    ## Why is this bad?
    bnlint cannot check code it cannot parse, so any batch-norm bug in the file goes unseen.

    ## Example
    ```python
    print "loss", sess.run(loss)  # Python 2
    ```

    ## Use instead
    ```python
    print("loss", sess.run(loss))
    ```

    ## Fix safety
    No automatic fix.

    ## References
    - [Python 3 porting guide](https://docs.python.org/3/howto/pyporting.html)
    """

    CODE = "BN000"
    NAME = "parse-error"
    TOKENS = ("",)

    def check(self, ctx: FileContext) -> Iterable[Report]:
        return ()
