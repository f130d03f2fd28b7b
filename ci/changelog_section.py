"""Print one version's section of a Keep-a-Changelog file (the release notes), without its heading.

Exit status 1 when the version has no section or an empty one, so that no release goes out without notes.

Usage: python ci/changelog_section.py CHANGELOG.md 1.2.3
"""

import re
import sys
from pathlib import Path

HEADING = re.compile(r"^## \[?(?P<version>[^\]\s]+)\]?(?:\s+-\s+.*)?$")


def changelog_section(text: str, version: str) -> str:
    lines, found, section = text.splitlines(), False, []
    for line in lines:
        heading = HEADING.match(line)
        if heading:
            if found:
                break
            found = heading.group("version") == version
            continue
        if found:
            section.append(line)
    body = "\n".join(section).strip()
    if not found:
        raise LookupError(f"no '## [{version}]' section")
    if not body:
        raise LookupError(f"the section of {version} is empty")
    return body + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    path, version = Path(argv[0]), argv[1]
    try:
        sys.stdout.write(changelog_section(path.read_text(), version))
    except LookupError as error:
        print(f"changelog_section: {path}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
