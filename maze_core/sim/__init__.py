"""Simulator: the same scheduler in virtual time, driven by the published Maze trace."""
