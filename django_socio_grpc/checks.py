"""System checks of the app: django-socio-grpc settings that have no effect here (W001), and this
package installed over django-socio-grpc's own distribution (E001)."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from importlib import metadata

OTHER_DISTRIBUTION = "django-socio-grpc"
PACKAGE = "django_socio_grpc"
# How its metadata directory is named on sys.path (pip normalises the name to underscores).
_INFO_PREFIXES = ("django_socio_grpc-", "django-socio-grpc-")
_INFO_SUFFIXES = (".dist-info", ".egg-info")


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


def _metadata_on_path() -> bool:
    """Whether a sys.path entry holds a django-socio-grpc dist-info/egg-info: a directory listing
    per entry, where importlib.metadata (~10 ms to import, more to search) would run on every
    start; it is imported only when there is something to read."""
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as names:
                if any(item.name.lower().startswith(_INFO_PREFIXES) and item.name.endswith(_INFO_SUFFIXES)
                       for item in names):
                    return True
        except OSError:  # not a directory (a zip), or gone
            continue
    return False


def other_distribution() -> metadata.Distribution | None:
    """django-socio-grpc's own distribution when it is installed and ships `django_socio_grpc`."""
    # A zip archive on sys.path cannot be listed: importlib.metadata looks into it.
    if not _metadata_on_path() and not any(os.path.isfile(entry) for entry in sys.path if entry):
        return None
    from importlib import metadata

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
