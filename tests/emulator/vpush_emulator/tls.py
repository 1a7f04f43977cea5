"""The HTTPS listener (docs/emulator.md "HTTPS"): the same emulator — store, push hub,
delays and control API shared with the plain listener — behind TLS with a test
certificate (testca.py makes one)."""

import select
import socket
import ssl
import sys

from . import delay, faults
from .server import Handler, Server

HANDSHAKE_TIMEOUT = 10.0


def context(cert_file, key_file):
    """A server context for a PEM certificate (chain) and its PEM private key."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


class TLSHandler(Handler):
    def _peer_closed(self):
        # A push client sends nothing after its request, so anything readable on a
        # stream is its close_notify or EOF (a TLS socket can't MSG_PEEK).
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)


class TLSServer(Server):
    """Listens on addr; everything else comes from plain, the running plain listener."""

    def __init__(self, plain, addr, tls_context):
        self.plain = plain
        self.tls_context = tls_context
        # What the control API attaches to a server on first use (delay.of(), faults.of())
        # is the plain listener's: delays and faults set there act on HTTPS requests too.
        self.delays = delay.of(plain)
        self.faults = faults.of(plain)
        base = plain.store.base
        super().__init__(addr, plain.store, plain.hub, plain.spec, plain.verbose)
        # resource URLs keep naming the plain listener (docs/emulator.md "HTTPS")
        plain.store.base = base
        self.url = "https" + self.url[len("http"):]
        self.RequestHandlerClass = TLSHandler

    def __getattr__(self, name):
        # state the control API keeps on the server object is the plain listener's
        plain = self.__dict__.get("plain")
        if plain is None:
            raise AttributeError(name)
        return getattr(plain, name)

    def finish_request(self, request, client_address):
        # runs in the connection's own thread, so a slow handshake holds up no one
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            conn = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            if self.verbose:
                sys.stderr.write("vpush-emulator: %s TLS handshake failed: %s\n"
                                 % (client_address[0], exc))
            return
        try:
            conn.settimeout(None)
            super().finish_request(conn, client_address)
        finally:
            # wrap_socket() took the descriptor: shutdown_request() can't close it
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.close()
