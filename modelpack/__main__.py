"""`python -m modelpack` runs the same CLI as the `modelpack` console script."""

from modelpack.cli import console_main

if __name__ == "__main__":
    console_main()
