import sys

from .errors import quiet_tensorflow

quiet_tensorflow(sys.argv)  # before anything imports TensorFlow

from .cli import main  # noqa: E402

sys.exit(main())
