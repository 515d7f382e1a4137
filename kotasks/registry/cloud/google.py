"""Google credentials through google-auth (``kotasks[google]``): Application Default
Credentials (``GOOGLE_APPLICATION_CREDENTIALS`` naming a service-account or external-account
file, gcloud's ADC file, the metadata server) give an access token, sent as the password of
``oauth2accesstoken`` to ``gcr.io``, ``*.gcr.io`` and ``*.pkg.dev``."""

from __future__ import annotations

from kotasks.registry.cloud import NotConfigured
from kotasks.registry.credentials import Credentials

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
EXTRA = "pip install 'kotasks[google]'"
SET = ("set GOOGLE_APPLICATION_CREDENTIALS to a key or workload-identity file, or run "
       "`gcloud auth application-default login`")


def google_credentials() -> Credentials:
    """Registry credentials from Application Default Credentials."""
    try:
        import google.auth
        import google.auth.exceptions
        import google.auth.transport.requests
    except ImportError:
        raise NotConfigured(f"{EXTRA} to use Application Default Credentials") from None
    try:
        found, _ = google.auth.default(scopes=[SCOPE])
        found.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.DefaultCredentialsError:
        raise NotConfigured(f"no Application Default Credentials: {SET}") from None
    except google.auth.exceptions.GoogleAuthError as exc:
        raise NotConfigured("Application Default Credentials gave no token: "
                            f"{str(exc).splitlines()[0][:200]}") from None
    if not found.token:
        raise NotConfigured("Application Default Credentials gave no token")
    return Credentials("oauth2accesstoken", str(found.token))
