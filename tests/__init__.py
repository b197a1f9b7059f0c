"""Digit Lab tests (pytest); browser.py holds the Chromium fixtures the browser tests share."""
