"""Planning: zones and green patches, access to parks, change between maps, the
planner reports."""
