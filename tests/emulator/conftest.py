"""Fixtures of the emulator's tests: the session's emulator, its clock, an enrolled device."""

import pytest

from emulator_client import Device, Emulator


# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def emu():
    e = Emulator("--check-openapi")
    yield e
    e.stop()
    assert e.proc.returncode == 0


@pytest.fixture
def clock(emu):
    yield emu.set_clock
    emu.set_clock(0)


@pytest.fixture
def dev(emu):
    return Device(emu).enroll()
