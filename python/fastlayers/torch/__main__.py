"""`python -m fastlayers.torch SCRIPT.py [ARGS]`: runs an unmodified PyTorch script with its supported torch.nn
layers swapped for fastlayers' drop-ins as it builds them, and prints the swap report (to stderr) at exit."""
import runpy
import sys

from .autoswap import AutoSwap


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 0 if argv else 2
    script = argv[0]
    sys.argv = [script] + argv[1:]
    swap = AutoSwap().install()
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        swap.uninstall()
        print(swap.report, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
