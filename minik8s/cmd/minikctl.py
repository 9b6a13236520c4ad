"""minikctl: not implemented yet (see issue 7)."""

from __future__ import annotations

import sys


def main() -> None:
    print("minikctl: not implemented yet", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
