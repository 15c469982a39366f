raise RuntimeError("this ASGI module fails on import")
