"""Mapping: imagery reading, the inference grid, streaming prediction, boundary
masking, frame grids, quick-looks."""
