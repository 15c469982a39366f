#!/usr/bin/env python
"""The peer project: django-socio-grpc 0.25 serving the benchmarks' echo service (run with benchmarks/.peer-venv)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
