"""
AWS Query-protocol APIs served by the gateway under ``/_gateway/<name>``.

``query`` is the protocol (form decoding, SigV4, XML rendering, errors); ``iam``
maps AWS IAM's operations onto the operation registry of ``gateway.iam``.
Layer: the edge. Imports inward only (auth, iam, policy), never the console.
"""
