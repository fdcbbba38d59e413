#!/usr/bin/env python3
"""The image's HEALTHCHECK: exit 0 when the API answers `GET /api/v1/health` with 200 (its database answers),
else 1 with one line saying why. Standard library only, so it runs the same on any Python in the image."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    port = os.environ.get("LOOPDESK_PORT", "8000")
    url = argv[0] if argv else f"http://127.0.0.1:{port}/api/v1/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - a loopback URL of our own
            status = response.status
    except urllib.error.HTTPError as exc:  # 503: the API is up, its database is not
        status = exc.code
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
