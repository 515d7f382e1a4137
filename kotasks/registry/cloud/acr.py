"""Azure Container Registry credentials through azure-identity (``kotasks[azure]``).

A client secret or certificate (``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID``,
``AZURE_CLIENT_SECRET`` or ``AZURE_CLIENT_CERTIFICATE_PATH``), workload identity
(``AZURE_FEDERATED_TOKEN_FILE``) or a managed identity gives an Entra ID access token; the
registry exchanges it at ``https://REGISTRY/oauth2/exchange`` for a refresh token, used with
the user ``00000000-0000-0000-0000-000000000000`` (as docker-credential-acr-env does). The
Entra ID token goes to that registry only, over HTTPS. ``AZURE_AUTHORITY_HOST`` names a
private cloud's authority (its instance discovery is then skipped).
"""

from __future__ import annotations

import os
from typing import Any

from kotasks.registry.cloud import NotConfigured, hostname
from kotasks.registry.credentials import Credentials

USER = "00000000-0000-0000-0000-000000000000"
SCOPE = "https://management.azure.com/.default"
EXTRA = "pip install 'kotasks[azure]'"
SET = ("set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET (or "
       "AZURE_FEDERATED_TOKEN_FILE), or run on a managed identity")
_PUBLIC_AUTHORITIES = ("login.microsoftonline.com", "login.chinacloudapi.cn",
                       "login.microsoftonline.us")


def _credential() -> Any:
    from azure.identity import (
        ChainedTokenCredential,
        EnvironmentCredential,
        ManagedIdentityCredential,
        WorkloadIdentityCredential,
    )

    env = os.environ
    options: dict[str, Any] = {}
    authority = env.get("AZURE_AUTHORITY_HOST", "")
    if authority and not any(host in authority for host in _PUBLIC_AUTHORITIES):
        options["disable_instance_discovery"] = True
    if env.get("AZURE_CLIENT_ID") and env.get("AZURE_TENANT_ID") and (
            env.get("AZURE_CLIENT_SECRET") or env.get("AZURE_CLIENT_CERTIFICATE_PATH")):
        return EnvironmentCredential(**options)
    if env.get("AZURE_FEDERATED_TOKEN_FILE"):
        return WorkloadIdentityCredential(**options)
    return ChainedTokenCredential(ManagedIdentityCredential())


def acr_credentials(registry: str) -> Credentials:
    """Registry credentials for an ``*.azurecr.io`` registry."""
    try:
        import requests
        from azure.core.exceptions import AzureError
    except ImportError:
        raise NotConfigured(f"{EXTRA} to use Azure credentials") from None
    try:
        token = _credential().get_token(SCOPE).token
    except ImportError:
        raise NotConfigured(f"{EXTRA} to use Azure credentials") from None
    except AzureError as exc:
        raise NotConfigured(f"no Entra ID token ({str(exc).splitlines()[0][:160]}): {SET}"
                            ) from None
    form = {"grant_type": "access_token", "service": hostname(registry),
            "access_token": token}
    if os.environ.get("AZURE_TENANT_ID"):
        form["tenant"] = os.environ["AZURE_TENANT_ID"]
    try:
        resp = requests.post(f"https://{registry}/oauth2/exchange", data=form, timeout=60)
    except requests.RequestException as exc:
        raise NotConfigured(f"https://{registry}/oauth2/exchange: "
                            f"{exc.__class__.__name__}") from None
    try:
        body = resp.json() if resp.status_code == 200 else {}
    except ValueError:
        body = {}
    refresh = body.get("refresh_token") if isinstance(body, dict) else None
    if not refresh:
        raise NotConfigured(f"https://{registry}/oauth2/exchange refused the Entra ID token "
                            f"(HTTP {resp.status_code})")
    return Credentials(USER, identity_token=str(refresh))
