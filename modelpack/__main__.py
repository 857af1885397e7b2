"""`python -m modelpack` runs the same CLI as the `modelpack` console script, with a normal
interpreter exit (`main`), so that wrappers that write on the way out, such as
`python -m cProfile -m modelpack`, still do; the console script ends faster (`console_main`)."""

from modelpack.cli import main

if __name__ == "__main__":
    main()
