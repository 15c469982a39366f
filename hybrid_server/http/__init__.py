"""The HTTP side: uvicorn embedding, probes and the Django ASGI app."""
