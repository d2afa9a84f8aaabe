"""Reading pages as a person does, for the language tests: the visible text of an HTML page (and
the words a person sees in placeholders, titles and buttons), the English words left in it, and a
crawler that follows every same-site link from a few start pages."""

from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

SKIP_TAGS = {"script", "style", "noscript", "template", "code", "pre", "svg"}
# Image alt texts are left out: Django's own icons say alt="True" and alt="Search" in every language.
SEEN_ATTRS = {"placeholder", "title", "aria-label"}
# A word of three or more lowercase letters (capitalised or not): "Lost ranges", "active"; or a raw
# code with underscores: "late_record". All-capital tokens (XLSX, PDF, ID) and tokens with digits
# (T12, U001, 2026-01) are codes people read as such; two-letter scraps come with a longer word.
# A token running into asterisks is a masked secret (the user page's salt and hash, "eccccf******"),
# random letters that made the walk fail by chance.
WORD = re.compile(r"(?<![\w@./:-])[A-Za-z][a-z]{2,}(?:['’][a-z]+)?(?![\w@/*-]|\.\w)")
RAW_CODE = re.compile(r"(?<![\w@./:-])[a-z]+(?:_[a-z]+)+(?![\w@/*-]|\.\w)")


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIP_TAGS:
            self._skip += 1
            return
        a = dict(attrs)
        if a.get("hidden") is not None or a.get("type") == "hidden" or "lang" in a and a["lang"] == "en":
            # The language switch names English in English, on purpose; hidden inputs carry codes.
            if tag in ("input", "option", "button") or a.get("lang") == "en":
                return
        for name in SEEN_ATTRS:
            if a.get(name):
                self.parts.append(a[name])
        if tag == "input" and a.get("type") in ("submit", "button") and a.get("value"):
            self.parts.append(a["value"])

    def handle_endtag(self, tag):
        if tag in SKIP_TAGS and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    # The language switch's English option/button is marked lang="en"; drop its text too.
    html = re.sub(r"<(option|button)[^>]*lang=\"en\"[^>]*>.*?</\1>", "", html, flags=re.S)
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_words(text: str, allowed: set[str]) -> list[str]:
    words = WORD.findall(text) + RAW_CODE.findall(text)
    return [w for w in words if w not in allowed and w.lower() not in allowed]


def links(html: str) -> list[str]:
    return re.findall(r'<a\b[^>]*\bhref="([^"#][^"]*)"', html)


def crawl(client, starts, *, skip, limit: int = 400, per_path: int = 2):
    """Yield (url, response) for every page reachable from `starts` by same-site links, each path
    with at most `per_path` different query strings."""
    queue, seen, per = deque(starts), set(starts), {}
    pages = 0
    while queue and pages < limit:
        url = queue.popleft()
        response = client.get(url)
        pages += 1
        yield url, response
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        for href in links(response.content.decode()):
            href = urldefrag(href.replace("&amp;", "&"))[0]
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                continue
            if any(s in href for s in skip) or href in seen:
                continue
            if per.setdefault(parts.path, 0) >= per_path:
                continue
            per[parts.path] += 1
            seen.add(href)
            queue.append(href)
