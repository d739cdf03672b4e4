"""Where an OpenAI-compatible endpoint lives: the canonical form of its URL, and whether its host
is this machine or a private network (which decides whether a key is needed and how long a silent
server may stall)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from mathsynth.errors import MathsynthError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_OFFICIAL_HOST = "api.openai.com"


def normalize_base_url(url: str | None) -> str:
    """Canonical endpoint URL (lower-case scheme and host, no trailing slash; ``/v1`` when no path).

    >>> normalize_base_url(None)
    'https://api.openai.com/v1'
    >>> normalize_base_url("HTTP://LocalHost:8080/")
    'http://localhost:8080/v1'
    """
    raw = (url or DEFAULT_BASE_URL).strip()
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise MathsynthError(f"base_url {raw!r}: expected http(s)://host[:port][/path]")
    if parts.username or parts.password or parts.query or parts.fragment:
        # Credentials in the URL would end up in config.json and the cache key.
        raise MathsynthError("base_url must not contain credentials, a query or a fragment; "
                             "pass the key in $MATHSYNTH_API_KEY")
    host = parts.hostname
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    # OpenAI-compatible servers all serve under /v1; a bare host would 404 on every request.
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/') or '/v1'}"


def is_private_host(host: str | None) -> bool:
    """Whether ``host`` is this machine or a private network (where servers usually need no key).

    >>> [is_private_host(h) for h in ("localhost", "127.0.0.1", "10.1.2.3", "api.openai.com")]
    [True, True, True, False]
    """
    if not host:
        return False
    host = host.lower().strip("[]")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host  # a single-label name only resolves inside a private network
    return ip.is_private or ip.is_loopback or ip.is_link_local
