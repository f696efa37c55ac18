"""The Teamleader Focus API client (``TeamleaderClient``) and its typed models."""

from clients.teamleader.client import TeamleaderClient, teamleader_limiter, teamleader_oauth_app
from clients.teamleader.errors import error_for

__all__ = ["TeamleaderClient", "error_for", "teamleader_limiter", "teamleader_oauth_app"]
