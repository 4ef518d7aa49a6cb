"""``python -m converter RUN --out web/model [--quantize none|float16|uint8] [--golden IMG …]``.

A mistake (no run folder, an unfinished or damaged run, an unreadable golden image) is one line,
``error: …``, with exit code 2; ``--debug`` shows the traceback (``trainer/errors.py``).
"""

import argparse
import sys

from trainer.errors import one_line, quiet_tensorflow

quiet_tensorflow(sys.argv)  # before anything imports TensorFlow

from trainer.cli import OneLineParser, add_debug_flag  # noqa: E402

from .convert import QUANTIZATIONS, convert  # noqa: E402


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m converter", description=__doc__,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("run", help="run folder written by `python -m trainer train`")
    parser.add_argument("--out", default="web/model", help="output folder (replaced)")
    parser.add_argument("--quantize", default="float16", choices=QUANTIZATIONS, help="weight quantization")
    parser.add_argument("--golden", nargs="*", default=[],
                        help="images to bundle with the app, with the probabilities Python gives for them")
    add_debug_flag(parser)
    args = parser.parse_args(argv)

    def run() -> int:
        meta = convert(args.run, args.out, args.quantize, args.golden)
        print(f"wrote {args.out}: {meta['model']['total_bytes'] / 1e6:.1f} MB, version {meta['model']['version']}, "
              f"{len(meta['golden'])} golden case(s)")
        return 0

    return one_line(run, args.debug)


if __name__ == "__main__":
    sys.exit(main())
