"""The public base URL that links and QR codes use.

Phones cannot reach 127.0.0.1 on the facilitator's laptop, so when the server listens on every
interface and no `--public-url` is set, links use the machine's LAN address instead. Interfaces are
listed with `ifaddr`, which only reads them: nothing is sent anywhere to find the address.
"""

from __future__ import annotations

import ipaddress

import ifaddr


def lan_address() -> str | None:
    """The first private IPv4 address of a non-loopback interface, if there is one."""
    candidates: list[ipaddress.IPv4Address] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue
            try:
                address = ipaddress.IPv4Address(ip.ip)
            except ValueError:
                continue
            if address.is_private and not address.is_loopback and not address.is_link_local:
                candidates.append(address)
    return str(sorted(candidates)[0]) if candidates else None


def public_base(host: str, port: int, public_url: str = "") -> str:
    if public_url:
        return public_url.rstrip("/")
    if host in ("0.0.0.0", "::", ""):
        host = lan_address() or "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
