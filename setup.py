"""Builds the optional compiled hot path (ringcache/_speedups.pyx, see
ringcache/accel.py; ringcache/_stream.pyx, the replication stream's wire
form, see ringcache/replication/stream.py); everything else is in
pyproject.toml.

The extension is optional: when it cannot be built (no C compiler, no Python
headers, no Cython) the package still installs, the build prints why, and
the node runs on the pure-Python path and says so once at start-up.
"""

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # (distutils raises several unrelated types)
            self._skip(exc)

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._skip(exc)

    def _skip(self, exc: Exception) -> None:
        print(f"WARNING: ringcache's compiled hot path was not built ({exc}); "
              "the package runs on the pure-Python path")


def extensions() -> list:
    try:
        from Cython.Build import cythonize
    except ImportError as exc:
        print(f"WARNING: Cython is not available ({exc}); "
              "ringcache's compiled hot path is not built")
        return []
    try:
        return cythonize(["ringcache/_speedups.pyx", "ringcache/_stream.pyx"], language_level=3, quiet=True)
    except Exception as exc:
        print(f"WARNING: cythonize failed ({exc}); ringcache's compiled hot path is not built")
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
