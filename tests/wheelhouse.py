"""Small wheels (and an sdist) made by the tests, so that package tests need no index.

:func:`make_wheelhouse` writes a folder that ``FAAS_PIP_FIND_LINKS`` can point at:

- ``faasdemo_base 1.0``: module ``faasdemo_base`` (``VALUE = 41``);
- ``faasdemo_top 2.0``: module ``faasdemo_top``, which requires and imports
  ``faasdemo_base`` (``answer() == 42``), and a second top-level module ``faasdemo_extra``;
- ``faasdemo_base 1.1`` (``VALUE = 99``), for a requirement change to pick another version;
- ``faasdemo_sdist 1.0``: published only as a source distribution.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["make_sdist", "make_wheel", "make_wheelhouse"]


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    modules: Mapping[str, str],
    requires: tuple[str, ...] = (),
) -> Path:
    """A pure-Python wheel of ``modules`` (path in the wheel -> source)."""
    dist_info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    tops = sorted({path.split("/")[0].removesuffix(".py") for path in modules})
    files: dict[str, bytes] = {path: text.encode() for path, text in modules.items()}
    files[f"{dist_info}/METADATA"] = metadata.encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: faas-trio-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    files[f"{dist_info}/top_level.txt"] = "".join(f"{t}\n" for t in tops).encode()
    record = "".join(f"{p},sha256={_digest(d)},{len(d)}\n" for p, d in files.items())
    record += f"{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, data in files.items():
            wheel.writestr(member, data)
    return path


def make_sdist(folder: Path, name: str, version: str) -> Path:
    """A source distribution (never built by the platform: wheels only)."""
    path = folder / f"{name}-{version}.tar.gz"
    root = f"{name}-{version}"
    files = {
        f"{root}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{root}/setup.py": "raise SystemExit('setup.py must never run on the platform')\n",
    }
    with tarfile.open(path, "w:gz") as archive:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def make_wheelhouse(folder: Path) -> Path:
    """The test wheelhouse described in the module docstring, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    make_wheel(folder, "faasdemo_base", "1.0", {"faasdemo_base/__init__.py": "VALUE = 41\n"})
    make_wheel(folder, "faasdemo_base", "1.1", {"faasdemo_base/__init__.py": "VALUE = 99\n"})
    make_wheel(
        folder,
        "faasdemo_top",
        "2.0",
        {
            "faasdemo_top/__init__.py": (
                "import faasdemo_base\n\ndef answer():\n    return faasdemo_base.VALUE + 1\n"
            ),
            "faasdemo_extra.py": "EXTRA = True\n",
        },
        requires=("faasdemo_base>=1.0",),
    )
    make_sdist(folder, "faasdemo_sdist", "1.0")
    return folder
