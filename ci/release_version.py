"""Print the release's version after checking it is one version everywhere it is written.

The chart's ``version`` and ``appVersion`` (which every image tag defaults to) must be equal and, with ``--tag``,
equal to the pushed tag without its ``v``. Exit status 1 with a message naming the mismatch otherwise.

Usage: python ci/release_version.py [--tag v1.2.3] [--chart charts/cloudemy/Chart.yaml]
"""

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


def release_version(chart_yaml: Path, tag: str | None) -> str:
    chart = yaml.safe_load(chart_yaml.read_text())
    version, app_version = str(chart["version"]), str(chart["appVersion"])
    if not SEMVER.match(version):
        raise ValueError(f"Chart.yaml version {version!r} is not MAJOR.MINOR.PATCH")
    if app_version != version:
        raise ValueError(f"Chart.yaml appVersion {app_version!r} differs from its version {version!r}")
    if tag is not None and tag != f"v{version}":
        raise ValueError(f"tag {tag!r} does not match the chart's version {version!r} (expected v{version})")
    return version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag")
    parser.add_argument("--chart", type=Path, default=ROOT / "charts" / "cloudemy" / "Chart.yaml")
    args = parser.parse_args(argv)
    try:
        print(release_version(args.chart, args.tag))
    except ValueError as error:
        print(f"release_version: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
