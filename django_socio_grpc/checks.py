"""System checks of the app: django-socio-grpc settings that have no effect here (W001)."""
from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register(checks.Tags.compatibility)
def settings_without_effect(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W001 for each django-socio-grpc key of GRPC_FRAMEWORK set to something but its default."""
    from django_socio_grpc.settings import NO_EFFECT, grpc_settings

    try:
        given = grpc_settings.user_settings
    except ImproperlyConfigured:
        return []  # the reader reports the settings themselves wherever they are read
    warnings: list[checks.CheckMessage] = []
    for key, (default, why) in NO_EFFECT.items():
        if key in given and grpc_settings.raw(key) != default:
            warnings.append(
                checks.Warning(
                    f"GRPC_FRAMEWORK[{key!r}] has no effect in this server: {why}.",
                    hint=f"Remove it, or leave it at its default ({default!r}).",
                    id="django_socio_grpc.W001",
                )
            )
    return warnings
