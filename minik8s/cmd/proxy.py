"""minik8s-proxy: not implemented yet (see issue 6)."""

from __future__ import annotations

import sys


def main() -> None:
    print("minik8s-proxy: not implemented yet", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
