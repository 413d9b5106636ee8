"""The incident record: every fix, snapshot, message and action, kept so it can stand as evidence."""

from .accounts import Accounts
from .blobs import BlobStore
from .conversation import Conversations
from .database import Database, verify_chain
from .incidents import Incidents

__all__ = ["Accounts", "BlobStore", "Conversations", "Database", "Incidents", "verify_chain"]
