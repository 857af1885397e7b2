"""Ollama's Go text/templates: parsing them as Go does, running them, and Go's strconv."""
