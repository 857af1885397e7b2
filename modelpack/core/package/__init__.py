"""modelpack.yaml: the spec with positions for errors, rendering variants, and tag names."""
