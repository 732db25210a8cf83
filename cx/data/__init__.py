"""Bundled report data: risk patterns, interview question templates, the demo wave (demo/)."""
