"""`python -m modelpack` runs the same CLI as the `modelpack` console script."""

from modelpack.cli import main

if __name__ == "__main__":
    main()
