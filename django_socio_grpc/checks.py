"""System checks of the app: django-socio-grpc settings that have no effect here (W001), and this
package installed over django-socio-grpc's own distribution (E001)."""
from __future__ import annotations

from importlib import metadata
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

OTHER_DISTRIBUTION = "django-socio-grpc"
PACKAGE = "django_socio_grpc"


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


def other_distribution() -> metadata.Distribution | None:
    """django-socio-grpc's own distribution when it is installed and ships `django_socio_grpc`."""
    try:
        dist = metadata.distribution(OTHER_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    files = dist.files or []
    if any(file.parts and file.parts[0] == PACKAGE for file in files):
        return dist
    top_level = dist.read_text("top_level.txt") or ""
    return dist if PACKAGE in top_level.split() else None


@checks.register(checks.Tags.compatibility)
def merged_install(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E001 when django-socio-grpc is installed too: both ship the top-level `django_socio_grpc`."""
    dist = other_distribution()
    if dist is None:
        return []
    return [
        checks.Error(
            f"The distribution {OTHER_DISTRIBUTION} {dist.version} is installed beside hybrid-server: both "
            f"install the package {PACKAGE}, so their files are merged and neither works reliably.",
            hint=(
                f"Uninstall both and install one: `pip uninstall -y {OTHER_DISTRIBUTION} hybrid-server && "
                "pip install hybrid-server` (see docs/server.md, 'Switching from django-socio-grpc')."
            ),
            id="django_socio_grpc.E001",
        )
    ]
