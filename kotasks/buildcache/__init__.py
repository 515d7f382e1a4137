"""The registry as a build cache shared by every machine (``KOTASKS_CACHE_REPO``)."""
