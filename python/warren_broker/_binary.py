"""Where the `warren` executable this package was installed with is."""

import os
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "warren-broker"


class BinaryNotFound(FileNotFoundError):
    """No usable `warren` executable."""


def find_binary(override=None):
    """The `warren` executable to run.

    `override` (or the WARREN_BIN environment variable) names one explicitly; otherwise it is the
    one the warren-broker wheel installed beside this package (found through the wheel's RECORD,
    not through PATH, so another `warren` earlier on PATH is never picked up).
    """
    explicit = override or os.environ.get("WARREN_BIN")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BinaryNotFound(
                f"the warren binary {path} does not exist or is not executable: give the path "
                "of a built warren (cargo build -p warren-cli puts it in target/debug/warren) "
                "with --warren-bin, WARREN_BIN or Broker(binary=...)"
            )
        return path
    try:
        files = metadata.distribution(DISTRIBUTION).files or []
    except metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name in ("warren", "warren.exe") and file.parent.name in ("bin", "scripts", "Scripts"):
            path = Path(file.locate()).resolve()
            if path.is_file():
                return path
    raise BinaryNotFound(
        "the warren binary of the warren-broker package is missing: reinstall it "
        "(pip install --force-reinstall warren-broker), or name a built warren with "
        "--warren-bin, WARREN_BIN or Broker(binary=...)"
    )
