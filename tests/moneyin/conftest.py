"""The bank emulator runs as a real subprocess on a port of its own (bound to 0, read from its first
line); tests talk to it over real sockets and set its faults through its control frames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import translation

from moneyin.bank_emulator import control

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def bank_process():
    proc = subprocess.Popen([sys.executable, "-m", "moneyin.bank_emulator", "--port", "0", "--late-delay", "1.0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line and line[0] == "LISTENING", line
    host, port = line[1].rsplit(":", 1)
    yield proc, (host, int(port))
    proc.terminate()
    proc.wait(5)


@pytest.fixture
def bank(bank_process, settings):
    """The emulator, emptied, and the host pointed at it with a short time-out."""
    proc, addr = bank_process
    assert proc.poll() is None, "the bank emulator died"
    control(addr, {"cmd": "reset"})
    settings.BANK_FRONT = f"{addr[0]}:{addr[1]}"
    settings.BANK_TIMEOUT = 0.4
    settings.BANK_REVERSAL_TRIES = 3

    class Bank:
        def __init__(self):
            self.addr = addr

        def fault(self, kind, **extra):
            assert control(addr, {"cmd": "fault", "fault": kind, **extra}) == {"ok": True}

        def entry(self, rrn):
            return control(addr, {"cmd": "state", "rrn": rrn})["entry"]

        def statement(self, day):
            return control(addr, {"cmd": "statement", "day": str(day)})["csv"]

    return Bank()


@pytest.fixture(autouse=True)
def english_messages():
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
