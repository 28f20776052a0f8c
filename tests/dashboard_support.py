"""Signing a plain HTTP client into the dashboard the way a browser does, for the page tests."""

from __future__ import annotations

import re

import httpx

_HIDDEN = re.compile(r'name="csrf" value="([^"]+)"')


def form_token(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _HIDDEN.search(html)
    assert found is not None, "the page has no form token"
    return found.group(1)


def sign_in(url: str, key: str, *, path: str = "") -> httpx.Client:
    """A client holding a dashboard session: the sign-in page's token, then the form post."""
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    form = client.get(f"{path}/login")
    assert form.status_code == 200, form.text
    answer = client.post(
        f"{path}/login", data={"key": key, "csrf": form_token(form.text), "next": ""}
    )
    assert answer.status_code == 303, answer.text
    assert "vidgate_session" in client.cookies
    return client


def csrf_of(client: httpx.Client, page: str) -> str:
    answer = client.get(page)
    assert answer.status_code == 200, answer.text
    return form_token(answer.text)
