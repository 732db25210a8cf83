"""Text in, structure out: language identification, clause segmentation and lemmas (no labels here)."""
