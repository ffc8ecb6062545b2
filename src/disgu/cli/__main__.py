"""`python -m disgu.cli`: the `disgu` command run by a given interpreter (how `disgu compare` starts its runs)."""

import sys

from disgu.cli import main

main(sys.argv[1:])
