"""
gateway: AWS-IAM-style identity and access management in front of HTTP services.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
