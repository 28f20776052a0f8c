"""Providers: one module per provider wire format, found through the ``vidgate.providers``
entry-point group (built-ins included)."""
