"""HTTP API v1 routers (FastAPI). Each module owns one resource."""
