"""The edge: processes, files and the network around the pure core."""
