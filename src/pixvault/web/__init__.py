"""HTTP: the only package that imports FastAPI/Starlette. Parse, call one service, serialise."""
