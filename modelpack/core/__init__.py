"""The pure core: no network, no environment variables, no clock, and no writing.

It reads only the inputs it is handed by path (a spec's GGUF and template files, a GGUF header);
everything else (servers, the environment, files it writes) belongs to `modelpack.edge` and
`modelpack.jobs`. Where things are, by concept:

- `modelfile/`: Modelfiles as Ollama reads them. `syntax` (parse and emit), `params`
  (PARAMETER names and types by version, with their history as data in `param_table`), `lint`,
  `diagnostics` (findings with file, line and fix), `request` (the create request), `drift`
  (two models' differences), `template_check` (TEMPLATEs that answer nothing useful).
- `gotmpl/`: Ollama's Go templates. `parser`, `execute` (running one), `strconv` (Go's number
  and bool parsing and formatting).
- `gguf/`: GGUF files. `format` (the format as data), `reader`, `facts` (what inspect shows),
  `memory` (estimates and fit), `adapter` (LoRA against base), `control_vector` (llama.cpp
  control vectors against base), `preflight`, `architectures` (which architectures each Ollama
  version loads, as data).
- `package/`: modelpack.yaml. `spec` and `yamlsource` (the spec with positions, loaded within
  budgets), `names` (Ollama's name rules), `render` (variants to Modelfiles), `starter` (a
  first spec), `tags` (every tag name modelpack makes).
- `serve/`: OpenAI-compatible engines (llama-server, vLLM). `spec` (the `serve:` block),
  `launch` (its argv and script), `options` with `llamacpp` and `vllm` (each engine's options
  by version, as data), `versions`.
- `results/`: what runs produce. `judge` (one smoke answer), `record` (build.json), `matrix`,
  `reports`, `baseline`, `serverlog` (a failed load's cause in a server log).
- `chat` (chat formats, detection from a GGUF's Jinja template, parity), `versions` (Ollama
  versions) and `inputs` (reading a file whole within its kind's size limit) serve several of
  these.
"""
