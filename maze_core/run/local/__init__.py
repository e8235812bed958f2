"""This machine as one node: :class:`LocalRuntime`, thread pools and worker processes."""
