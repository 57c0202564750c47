"""Fake provider servers built from the providers' documented answers, one module each."""
