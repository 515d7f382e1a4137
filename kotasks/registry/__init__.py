"""The registry client: references, credentials, and the distribution API over HTTP."""
