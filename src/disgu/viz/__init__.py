"""Pictures for people: contact sheets, sample grids, traversal strips."""
