"""Webhooks to command-and-control and other systems: signed, retried, in order per incident."""

from .dispatcher import Webhooks
from .signing import SignatureError, sign, verify

__all__ = ["SignatureError", "Webhooks", "sign", "verify"]
