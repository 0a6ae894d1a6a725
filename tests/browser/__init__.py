"""Helpers for the browser tests: a Voilà server on 127.0.0.1 and Debian's Chromium via Playwright."""
