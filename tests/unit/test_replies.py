"""Server error replies become one readable line (a registry's nginx 502 was eight lines)."""

from __future__ import annotations

import httpx

from modelpack.edge.replies import MAX_REPLY, one_line, reply_text

NGINX_502 = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.22.1</center>
</body>
</html>
"""


def test_an_html_page_becomes_its_title() -> None:
    assert one_line(NGINX_502) == "502 Bad Gateway"
    assert one_line("<html><body><p>upstream &amp; gone</p></body></html>") == "upstream & gone"


def test_text_is_one_line_and_bounded() -> None:
    assert one_line("model  'x'\nnot found\r\n") == "model 'x' not found"
    assert one_line("a <b> in text stays") == "a <b> in text stays"
    long = one_line("word " * 200)
    assert len(long) == MAX_REPLY and long.endswith("…")


def test_reply_text_falls_back_to_the_reason_phrase() -> None:
    assert reply_text(httpx.Response(502, text=NGINX_502)) == "502 Bad Gateway"
    assert reply_text(httpx.Response(503, text="")) == "Service Unavailable"
