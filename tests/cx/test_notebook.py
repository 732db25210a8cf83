"""notebooks/report_walkthrough.ipynb runs top to bottom (nbclient), so it never rots."""
from __future__ import annotations

import pytest

from .conftest import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def test_walkthrough_notebook_executes(monkeypatch):
    monkeypatch.delenv("CXLENS_WALKTHROUGH_MODEL", raising=False)  # known labels: independent of the model
    nb = nbformat.read(REPO / "notebooks" / "report_walkthrough.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(REPO)}})
    client.execute()
    text = "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Выездной сервис" in text and "field_service" in text  # the matrix table
    assert "known labels" in text
    assert any("image/svg+xml" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))
