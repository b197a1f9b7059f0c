"""This browser's id: 128 random bits the browser keeps (a custom component v2, no iframe, nothing shown).

The id names the browser's archive on the server (:class:`core.explore.archive.ArchiveStore`), so
that the archive survives a reload or a restart of the browser and no other browser can reach it.
The browser makes the id itself (``crypto.getRandomValues``, 16 bytes, as 32 hexadecimal digits),
keeps it in its ``localStorage`` and in a cookie (``digitlab_browser``, one year, ``SameSite=Strict``)
and sends it to Python once (``setStateValue("id", ...)``). The cookie comes with every later
connection (``st.context.cookies``), so from the second visit on the page knows the id on its first
run without mounting the component. The server never makes, lists or shows an id.

A private window, another browser or cleared site data has another id, and another (empty) archive.

The markup is :data:`_HTML` below; the script and the style (which hides the component's element)
are ``browser_store.js`` and ``browser_store.css`` beside this file, read once at import.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.explore.archive import ArchiveStore

#: the cookie (and localStorage item) that holds the id
COOKIE = "digitlab_browser"
#: the component's key (its element is hidden by browser_store.css through Streamlit's ``st-key-`` class)
KEY = "dl_browser_id"

_HTML = '<div class="dl-browser-id" data-testid="browser-id"></div>'
_CSS = Path(__file__).with_suffix(".css").read_text(encoding="utf-8")
_JS = Path(__file__).with_suffix(".js").read_text(encoding="utf-8")

_component = st.components.v2.component("digit_lab_browser_id", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)


def _ignore() -> None:
    """State-change callback: registering it declares the ``id`` state; the rerun does the work."""


def cookie_id() -> str | None:
    """The id the browser sent with this session's connection (its cookie), or None (first visit,
    cookies refused, or a value that is not an id)."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no client context (bare script run)
        return None
    return value if ArchiveStore.valid_id(value) else None


def browser_id() -> str | None:
    """This browser's id (32 lowercase hexadecimal digits), or None until the browser has answered.

    From its cookie when the connection brought one; otherwise the component is mounted here (call
    this outside any fragment, at the same place on every run, so that its answer reruns the page)
    and its answer is returned on the next run. Anything that is not an id is ignored.
    """
    found = cookie_id()
    if found is not None:
        return found
    result = _component(key=KEY, data={"cookie": COOKIE}, default={"id": None}, on_id_change=_ignore,
                        width="content")
    value = result.get("id") if result is not None else None
    return value if ArchiveStore.valid_id(value) else None
