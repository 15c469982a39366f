"""Django's ASGI application of the peer project (plain uvicorn's row of the start-up section)."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
application = get_asgi_application()
