"""A throwaway certificate authority and one server certificate covering every emulated exchange host."""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass

import trustme


@dataclass(frozen=True)
class TestCertificates:
    """The CA that signed the emulator's certificate, and SSL contexts for both ends of the loopback.

    The server certificate names the real exchange hostnames, so the client verifies the peer exactly as
    it would in production (hostname check on, CA check on); only the trusted root differs.
    """

    __test__ = False  # not a pytest test class despite the name

    ca: trustme.CA
    server_cert: trustme.LeafCert
    hostnames: tuple[str, ...]

    @classmethod
    def issue(cls, hostnames: Iterable[str]) -> TestCertificates:
        names = tuple(sorted(set(hostnames)))
        ca = trustme.CA(organization_name="TradeForge exchange emulator test CA")
        return cls(ca=ca, server_cert=ca.issue_cert(*names), hostnames=names)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Trusts only the test CA: a request that escaped to a real exchange would fail verification."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies hostname and chain, no system roots
        self.ca.configure_trust(context)
        return context

    def ca_pem(self) -> bytes:
        return self.ca.cert_pem.bytes()
