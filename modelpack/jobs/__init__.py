"""Jobs: the workflows the CLI runs, over the core and the edge's adapters.

- `build` (render, upload, create, smoke-test, fall back, move the stable tag);
- `smoke` (the one smoke loop: load cold, probe each prompt, measure, judge), used by build,
  promote and matrix;
- `stable` (moving a package's stable tag and keeping its archive tags);
- `matrix` (packages x variants x prompts), `lifecycle` (promote, rollback), `status`
  (declared against served), `publish` (push) and `verify_pull`.

Each takes its client as an argument; none reads the environment.
"""
