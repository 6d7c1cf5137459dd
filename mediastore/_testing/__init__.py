"""Test and benchmark helpers shipped with the package but not part of its API.

Nothing in ``import mediastore`` imports this package (a test checks it): it needs moto, which
only the ``dev`` extra installs.
"""
