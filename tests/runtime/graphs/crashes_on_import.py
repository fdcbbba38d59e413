"""A graph file that raises on import: partly_broken.json serves the other graphs all the same."""

graph = 1 / 0
