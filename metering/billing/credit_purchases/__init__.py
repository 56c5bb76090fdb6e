"""Buying paid credit grants: a one-off invoice per purchase, the grant once it is paid."""
