"""The pure core: no network, no environment variables, no clock; only reading its inputs."""
