import sys

if len(sys.argv) > 1 and sys.argv[1] == "sweep":  # python -m parity sweep ... (parity/sweep.py)
    from .sweep import main

    sys.exit(main(sys.argv[2:]))

from .compare import main  # noqa: E402

sys.exit(main())
