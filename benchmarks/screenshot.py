#!/usr/bin/env python
"""Regenerate docs/dashboard.png: start the app, draw a digit on the canvas in headless chromium.

Needs the test requirements (Playwright, Debian's chromium): `bash scripts/setup.sh --test`.

    python -m benchmarks.screenshot                      # docs/dashboard.png, draw page with a "7"
    python -m benchmarks.screenshot --page generation --out /tmp/grid.png
"""

from __future__ import annotations

import argparse
import sys

from core.paths import REPO_ROOT
from tests.browser import CHROMIUM_ARGS, chromium_path, read_predictions, running_app, stroke

SEVEN = [(0.25, 0.18), (0.75, 0.18), (0.62, 0.45), (0.45, 0.85)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--page", default="draw", help="page path, e.g. draw, generation, latent_space")
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "dashboard.png"))
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1100)
    parser.add_argument("--wait", type=float, default=6.0, help="seconds to let the page settle")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with running_app() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(f"{url}/{args.page}", wait_until="domcontentloaded")
        if args.page.split("?")[0] == "draw":
            canvas = page.locator('[data-testid="sketchpad-canvas"]')
            canvas.wait_for(state="visible", timeout=90_000)
            page.wait_for_timeout(1500)
            stroke(page, canvas.bounding_box(), SEVEN)
            for _ in range(60):
                if len(read_predictions(page)) >= 3:
                    break
                page.wait_for_timeout(500)
            print("predictions:", read_predictions(page))
        page.wait_for_timeout(args.wait * 1000)
        page.screenshot(path=args.out)
        browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
