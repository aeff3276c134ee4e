"""`python -m fastlayers`: the environment report to paste into a bug report."""
from .utils.collect_env import main

main()
