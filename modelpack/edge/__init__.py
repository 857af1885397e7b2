"""The edge: processes, files and the network around the pure core.

- Talking to servers: `client` (Ollama's API), `registry` (Docker Registry v2),
  `openai_target` (OpenAI-compatible servers), `server` (managed `ollama serve` processes).
- On disk: `project` (spec, templates, target version), `files` (atomic writes), `blobs`
  (digest cache, upload once), `history` (past builds), `clock` (record times).
- Jobs: `runner` (build), `probe` (one measured prompt), `matrix`, `lifecycle` (promote,
  rollback), `status` (drift), `publish` (push, verify-pull).
"""
