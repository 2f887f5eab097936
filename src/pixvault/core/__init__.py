"""The domain: models, ports, errors and services. Imports no web framework, ORM, SDK or Redis."""
