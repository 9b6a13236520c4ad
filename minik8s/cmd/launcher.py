"""minik8s: start, inspect and stop a local cluster (`up`, `status`, `logs`, `down`)."""

from __future__ import annotations

from minik8s.cli.launcher.app import main

if __name__ == "__main__":
    main()
