"""A real PBKDF2 hasher (fewer rounds, so twenty sign-ins take seconds) that counts its work: the
kiosk tests see whether a sign-in hashed, without mocking anything."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class CountingPBKDF2(PBKDF2PasswordHasher):
    iterations = 60_000
    calls = 0

    def encode(self, password, salt, iterations=None):
        type(self).calls += 1
        return super().encode(password, salt, iterations)
