"""`python3 -m minik8s.dashboard.signin`: a one-time sign-in link for a kubeconfig's user,
minted into the dashboard's grant directory — what `minik8s dashboard` does for `minik8s up`,
for a dashboard whose grant directory only its own container can reach (the docker-compose
cluster: `make compose-dashboard` pipes the host's kubeconfig into `docker-compose exec`).

The kubeconfig comes on stdin (`-`, the default) or from a file; the link goes to stdout.
Errors are one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from minik8s.client.kubeconfig import ConfigError, config_from_dict
from minik8s.dashboard import grants

URL_ENV = "MINIK8S_DASHBOARD_URL"


def login_url(kubeconfig_text: str, grant_dir: Path, base_url: str) -> str:
    """Mint a one-time login for the kubeconfig's user; the URL that redeems it."""
    try:
        document = yaml.safe_load(kubeconfig_text)
    except yaml.YAMLError as e:
        raise ConfigError(f"the kubeconfig is not YAML: {e}") from e
    if not isinstance(document, dict):
        raise ConfigError("the kubeconfig is not a YAML mapping")
    credential = grants.Credential.from_config(config_from_dict(document, source="kubeconfig"))
    code = grants.mint(grant_dir, credential)
    return f"{base_url.rstrip('/')}/login?code={code}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python3 -m minik8s.dashboard.signin",
        description="Print a one-time sign-in link to the dashboard for a kubeconfig's user.",
    )
    parser.add_argument("--kubeconfig", default="-", help="a file, or - for stdin (default)")
    parser.add_argument("--grant-dir", type=Path, required=True, help="the dashboard's")
    parser.add_argument(
        "--url", default=os.environ.get(URL_ENV),
        help=f"the dashboard's URL as the browser sees it (default: ${URL_ENV})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not args.url:
        parser.error(f"--url or ${URL_ENV} is needed")
    try:
        text = sys.stdin.read() if args.kubeconfig == "-" else Path(args.kubeconfig).read_text()
        print(login_url(text, args.grant_dir, args.url))
    except (OSError, ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
