"""A few requests a second to the example shop, until stopped: ``python load.py URL``.

Item lookups and checkouts (the shop fails about one checkout in ten), so the
dashboard has rates, errors and latencies to show.
"""

from __future__ import annotations

import random
import sys
import time
import urllib.error
import urllib.request


def request(url: str, *, method: str = "GET") -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as error:
        return error.code  # a 503 from a failed checkout is part of the show
    except OSError as error:
        print(f"load: {url}: {error}", file=sys.stderr)
        return 0


def main() -> None:
    base = (sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8000").rstrip("/")
    sent = 0
    while True:
        if random.random() < 0.3:
            request(f"{base}/checkout", method="POST")
        else:
            request(f"{base}/items/{random.randrange(1, 50)}")
        sent += 1
        if sent % 100 == 0:
            print(f"load: {sent} requests sent", flush=True)
        time.sleep(random.uniform(0.05, 0.3))


if __name__ == "__main__":
    main()
