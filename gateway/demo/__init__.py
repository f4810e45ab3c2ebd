"""
Pieces that ``gateway demo`` starts beside the gateway to tell the walkthrough story.

Nothing here is part of the gateway's layers: the demo upstreams are ordinary
services that sit behind the gateway, and the gateway never imports them.
"""

from __future__ import annotations

from gateway.demo.objectstore import (
    DEFAULT_MAX_OBJECT_BYTES,
    create_objectstore_app,
    serve_objectstore,
)

__all__ = ["DEFAULT_MAX_OBJECT_BYTES", "create_objectstore_app", "serve_objectstore"]
