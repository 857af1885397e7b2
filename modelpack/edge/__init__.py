"""The edge: thin adapters between the pure core and processes, files and the network.

- Servers: `client` (Ollama's API), `registry` (Docker Registry v2), `openai_target`
  (OpenAI-compatible servers), `server` (managed `ollama serve` processes).
- Disk and setting: `project` (spec, templates, host, home and target version: resolved once
  for every command), `files` (atomic writes), `blobs` (digest cache, upload once), `history`
  (build records, past builds), `clock` (record times), `load` (how contended the CPU is).

The jobs that use these (build, matrix, publish, ...) live in `modelpack.jobs`.
"""
