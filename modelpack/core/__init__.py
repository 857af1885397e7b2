"""The pure core: no network, no environment variables, no clock; only reading its inputs.

Where things are, by concept:

- Modelfiles: `modelfile` (parse and emit, as Ollama reads them), `params` (PARAMETER names
  by version, Go-exact values), `gostrconv` (Go's number and bool parsing), `lint`,
  `diagnostics` (findings with file, line and fix), `versions`, `request` (the create body).
- Templates: `gotemplate` (Go template parsing), `goexec` (running one), `chat` (chat formats,
  detection from a GGUF's Jinja template, parity).
- Packages: `spec` and `yamlsource` (modelpack.yaml with positions), `render`, `starter`.
- GGUF: `gguf_spec` (the format as data), `gguf` (the reader), `facts` (what inspect shows),
  `memory` (estimates and fit), `adapter` (LoRA against base), `preflight`.
- Results: `smoke` (judging an answer), `record` (build.json), `matrix`, `reports`, `baseline`,
  `drift` (declared against served).
"""
