"""The local stack: real emulators, fake providers and the function, on loopback only.

Used by `scripts/local` (python -m devstack) and by the integration and end-to-end tests.
Nothing here is deployed.
"""
