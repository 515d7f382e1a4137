"""Amazon ECR credentials through boto3 (``kotasks[aws]``): the standard credential chain
(environment, shared config and credentials files with ``AWS_PROFILE``, SSO, web identity,
container and instance metadata), then ``ecr:GetAuthorizationToken`` for the account and
region the host names, or ``ecr-public:GetAuthorizationToken`` in us-east-1 for
``public.ecr.aws``. Endpoints follow boto3 (``AWS_ENDPOINT_URL_ECR``, …)."""

from __future__ import annotations

import base64
import re

from kotasks.registry.cloud import NotConfigured, hostname
from kotasks.registry.credentials import Credentials

PRIVATE = re.compile(r"(?P<account>[0-9]{12})\.dkr\.ecr(?P<fips>-fips)?\."
                     r"(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?")
PUBLIC = "public.ecr.aws"
EXTRA = "pip install 'kotasks[aws]'"
SET = ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or "
       "AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE")


def ecr_credentials(registry: str) -> Credentials:
    """Registry credentials for an ECR host (private or public)."""
    try:
        import boto3
        import botocore.config
        import botocore.exceptions
    except ImportError:
        raise NotConfigured(f"{EXTRA} to use AWS credentials") from None
    try:
        session = boto3.session.Session()
        if session.get_credentials() is None:
            raise NotConfigured(f"no AWS credentials found: {SET}")
        host = hostname(registry)
        if host == PUBLIC:
            client = session.client("ecr-public", region_name="us-east-1")
            data = client.get_authorization_token()["authorizationData"]
        else:
            match = PRIVATE.fullmatch(host)
            if match is None:
                raise NotConfigured(f"{host} is not an ECR registry host")
            config = botocore.config.Config(use_fips_endpoint=bool(match["fips"]))
            client = session.client("ecr", region_name=match["region"], config=config)
            data = client.get_authorization_token(
                registryIds=[match["account"]])["authorizationData"][0]
    except botocore.exceptions.BotoCoreError as exc:
        raise NotConfigured(f"AWS credentials: {str(exc).splitlines()[0]}") from None
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise NotConfigured(f"GetAuthorizationToken: {error.get('Code', '')}: "
                            f"{error.get('Message', '')}") from None
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return Credentials(user, password)
