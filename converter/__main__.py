"""``python -m converter RUN --out web/model [--quantize none|float16|uint8] [--golden IMG …]``."""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .convert import QUANTIZATIONS, convert  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m converter", description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("run", help="run folder written by `python -m trainer train`")
    parser.add_argument("--out", default="web/model", help="output folder (replaced)")
    parser.add_argument("--quantize", default="float16", choices=QUANTIZATIONS, help="weight quantization")
    parser.add_argument("--golden", nargs="*", default=[],
                        help="images to bundle with the app, with the probabilities Python gives for them")
    args = parser.parse_args(argv)
    meta = convert(args.run, args.out, args.quantize, args.golden)
    print(f"wrote {args.out}: {meta['model']['total_bytes'] / 1e6:.1f} MB, version {meta['model']['version']}, "
          f"{len(meta['golden'])} golden case(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
