"""Serving a package's model on an OpenAI-compatible engine (llama.cpp's llama-server, vLLM).

- `spec`: the `serve:` block of a package (typed, one model per engine) and `check_serve`, what
  the pinned engine version does not take.
- `launch`: the launch argv computed from a block, and the script `render` writes.
- `options`: an engine's options across versions and checking argv words against them;
  `llamacpp` and `vllm` hold each engine's tables (`llamacpp_options`, `vllm_options`, generated
  from the engines' own code by scripts/serve_tables.py) and their version rules.
- `versions`: llama.cpp builds (b11549) and vLLM releases.
"""
