"""Errors a service raises for bad input. They carry a message a person can act on."""

from django.core.exceptions import ValidationError


class BusinessError(ValidationError):
    """A request that breaks a rule; nothing was changed."""


class InsufficientFunds(BusinessError):
    pass


class NotAllowed(BusinessError):
    """The actor lacks the permission for this action."""
