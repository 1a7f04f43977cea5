"""vpush test emulator: an independent local implementation of the Twilio Verify v2
API for the push flow (see docs/emulator.md). It follows the protocol notes and
Twilio's OpenAPI document, never vpushd's code."""

__all__ = ["main"]


def main(argv=None):
    from .server import main as _main
    return _main(argv)
