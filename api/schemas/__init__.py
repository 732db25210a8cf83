"""Request and response models of the HTTP API, one module per resource (with Russian and English
examples for the OpenAPI docs); ``common`` has the error body and the model-spec patterns."""
