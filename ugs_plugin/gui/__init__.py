"""Map tools and dialogs (QGIS desktop only)."""
