"""DPoP (RFC 9449): proofs of possession of a key, checked at the token endpoint and at resources.

A plain package with no models: the key bindings are columns of apps/oauth's token models.
"""
