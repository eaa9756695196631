"""`python -m aiimage.ops …`: the operations CLI (`aiimage.ops.cli`)."""

from aiimage.ops.cli import main

raise SystemExit(main())
