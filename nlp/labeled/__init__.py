"""Labeled and unlabeled records: file formats and decoding, spreadsheet-safe cells, analysts' datasets
and feedback, and the bundled CX seed set."""
