"""A service module whose own import fails: the error must surface as itself."""
import no_such_dependency_xyz  # noqa: F401
