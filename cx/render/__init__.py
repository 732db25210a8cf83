"""Report renderers: HTML (self-contained, offline), XLSX (openpyxl), CSV. They read only the report dict."""
