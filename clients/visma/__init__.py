"""The Visma eAccounting API v2 client (``VismaClient``) and its typed models."""

from clients.visma.auth import SCOPES, visma_oauth_app
from clients.visma.client import VismaClient, endpoint_key, odata_datetime, odata_text
from clients.visma.errors import error_for

__all__ = [
    "SCOPES",
    "VismaClient",
    "endpoint_key",
    "error_for",
    "odata_datetime",
    "odata_text",
    "visma_oauth_app",
]
