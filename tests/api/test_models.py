def test_models_lists_the_served_default(client, keys):
    r = client.get("/v1/models", headers=keys.h(keys.analyst))
    assert r.status_code == 200
    body = r.json()
    assert body["default"] == {"name": "fake-model", "version": "1"}
    assert [(m["name"], m["version"], m["loaded"], m["default"]) for m in body["models"]] == [
        ("fake-model", "1", True, True)]


def test_admin_switches_the_default_model(client, keys):
    r = client.put("/v1/models/default", json={"model": "fake-model@2"}, headers=keys.h(keys.admin))
    assert r.status_code == 200
    assert r.json()["default"] == {"name": "fake-model", "version": "2"}
    r = client.post("/v1/classify", json={"documents": ["x"]}, headers=keys.h(keys.analyst))
    assert r.json()["model"]["version"] == "2"
    r = client.put("/v1/models/default", json={"model": "ghost@1"}, headers=keys.h(keys.admin))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"


def test_taxonomy_has_the_12_touchpoints_in_ru_and_en(client, keys):
    r = client.get("/v1/taxonomy", headers=keys.h(keys.analyst))
    assert r.status_code == 200
    body = r.json()
    ids = [t["id"] for t in body["touchpoints"]]
    assert ids == ["sales", "customer_service", "front_office", "field_service", "billing", "tech_support",
                   "delivery", "product", "price", "digital", "premises", "brand"]
    assert all(t["name"].get("ru") and t["name"].get("en") for t in body["touchpoints"])
    assert body["model"] == {"name": "fake-model", "version": "1"}
    r = client.get("/v1/taxonomy?model=ghost", headers=keys.h(keys.analyst))
    assert r.status_code == 404
