"""`python -m warren_broker [FLAGS]`: the `warren` binary this package shipped with."""

import os
import sys

from ._binary import BinaryNotFound, find_binary


def main():
    try:
        binary = str(find_binary())
    except BinaryNotFound as error:
        sys.exit(f"warren_broker: {error}")
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    main()
