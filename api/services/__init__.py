"""Service layer: the routes stay thin and call these functions."""
