"""minikctl: kubectl's verbs for minik8s (see minik8s/cli/minikctl)."""

from __future__ import annotations

from minik8s.cli.minikctl.app import app


def main() -> None:
    app(prog_name="minikctl")


if __name__ == "__main__":
    main()
