"""Test doubles of the core's ports: fast stand-ins that keep the ports' semantics."""
